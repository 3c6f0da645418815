// Package objstoretest is the acceptance suite for objstore.Bucket: every
// implementation runs Run from its own tests, against a real store, so they
// all keep the same contract (create-only Put, range semantics, sentinel
// errors, List order, idempotent Delete, context handling).
//
// It owns no implementation and imports only objstore. Behaviour specific to
// one implementation (key rules of fs, configuration of s3) is tested in that
// implementation's package.
//
// # Usage
//
//	func TestAcceptance(t *testing.T) {
//		objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
//			b, err := fs.New(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
package objstoretest
