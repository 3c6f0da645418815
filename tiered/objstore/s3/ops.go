package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/stratalog/strata/tiered/objstore"
)

// Put creates key with exactly size bytes from r, create-only: it sends
// If-None-Match: * and returns objstore.ErrExists when the store answers 412
// PreconditionFailed, or 409 ConditionalRequestConflict (AWS: another
// conditional write of the key is in flight, which for a never-reused key
// means a collision). It returns an error wrapping io.ErrUnexpectedEOF if r
// holds fewer than size bytes.
//
// A retried attempt whose predecessor did reach the store also gets
// ErrExists: after a timeout, ErrExists can mean "written by this very Put".
// Callers that retry on ambiguous failures compare the stored bytes.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	k, err := b.key(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	body, err := seekableBody(r, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err = b.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           k,
		Body:          body,
		ContentLength: aws.Int64(size),
		IfNoneMatch:   aws.String("*"),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, translate(err))
	}
	return nil
}

// seekableBody returns a reader of exactly size bytes of r that can seek.
//
// Why seekable: on plain HTTP (MinIO in tests and the embedded stack) the
// SDK signs the payload's SHA-256, which means reading the body and
// rewinding it ("unseekable stream is not supported without TLS"), and on
// any endpoint it rewinds the body before each retry. The alternative,
// swapping in the SDK's UNSIGNED-PAYLOAD middleware, would fix only the
// first, give up payload integrity on HTTP, and still leave retries
// impossible, so a reader that cannot seek is read into memory instead.
// Segments are small (tens of MiB), and callers mostly pass a *bytes.Reader
// or an *os.File, which are used in place.
func seekableBody(r io.Reader, size int64) (io.ReadSeeker, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		left, err := remaining(rs)
		if err != nil {
			return nil, err
		}
		switch ra, isAt := r.(io.ReaderAt); {
		case left < size:
			return nil, fmt.Errorf("body has %d of %d bytes: %w", left, size, io.ErrUnexpectedEOF)
		case left == size:
			return rs, nil
		case isAt:
			cur, err := rs.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("seek body: %w", err)
			}
			return io.NewSectionReader(ra, cur, size), nil
		}
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read body: got %d of %d bytes: %w", n, size, err)
	}
	return bytes.NewReader(buf), nil
}

// remaining returns how many bytes rs holds past its current offset, leaving
// the offset where it was.
func remaining(rs io.ReadSeeker) (int64, error) {
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("seek body: %w", err)
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("seek body: %w", err)
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, fmt.Errorf("seek body: %w", err)
	}
	return end - cur, nil
}

// GetRange returns a reader over length bytes of key from off (length < 0:
// to the end), as documented on objstore.Bucket. The reader streams the
// response body: reads fail once ctx is done, and it must be closed to
// release the connection.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	k, err := b.key(key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if off < 0 {
		return nil, fmt.Errorf("get %s [%d,+%d): %w", key, off, length, objstore.ErrInvalidRange)
	}
	if length == 0 {
		return b.emptyRange(ctx, key, off) // HTTP cannot express an empty range
	}
	in := &awss3.GetObjectInput{Bucket: &b.bucket, Key: k}
	if off > 0 || length > 0 {
		in.Range = aws.String(httpRange(off, length))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		err = translate(err)
		if off == 0 && errors.Is(err, objstore.ErrInvalidRange) {
			return b.emptyRange(ctx, key, off) // quirk: any Range on an empty object
		}
		return nil, fmt.Errorf("get %s [%d,+%d): %w", key, off, length, err)
	}
	if in.Range == nil {
		return out.Body, nil
	}
	body, err := checkContentRange(out, off, length)
	if err != nil {
		_ = out.Body.Close() // unusable response; the range error matters
		return nil, fmt.Errorf("get %s [%d,+%d): %w", key, off, length, err)
	}
	return body, nil
}

// httpRange returns the Range header for length bytes from off (length > 0)
// or from off to the end (length < 0, or so large the end overflows).
func httpRange(off, length int64) string {
	if length < 0 || length > math.MaxInt64-off {
		return fmt.Sprintf("bytes=%d-", off)
	}
	return fmt.Sprintf("bytes=%d-%d", off, off+length-1)
}

// checkContentRange guards against a server that ignored Range (a 200 with
// the whole object, which RFC 9110 allows). At offset 0 the whole object is
// still usable, cut to length; elsewhere it is an error. A 206 must start at
// off.
func checkContentRange(out *awss3.GetObjectOutput, off, length int64) (io.ReadCloser, error) {
	if out.ContentRange == nil {
		if off != 0 {
			return nil, errors.New("store ignored the Range header")
		}
		return limitedBody{io.LimitReader(out.Body, length), out.Body}, nil
	}
	var start, end, total int64
	_, err := fmt.Sscanf(*out.ContentRange, "bytes %d-%d/%d", &start, &end, &total)
	if err != nil && !strings.HasSuffix(*out.ContentRange, "/*") {
		return nil, fmt.Errorf("bad Content-Range %q: %w", *out.ContentRange, err)
	}
	if start != off {
		return nil, fmt.Errorf("asked for offset %d, store sent Content-Range %q", off, *out.ContentRange)
	}
	return out.Body, nil
}

// limitedBody reads at most a limit of a response body and closes the body.
type limitedBody struct {
	io.Reader
	body io.Closer
}

func (l limitedBody) Close() error { return l.body.Close() }

// emptyRange answers a read that yields no bytes: it still checks that key
// exists and that off is valid for its size.
func (b *Bucket) emptyRange(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	size, err := b.Size(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if off > size || (off == size && size > 0) {
		return nil, fmt.Errorf("get %s at %d of %d bytes: %w", key, off, size, objstore.ErrInvalidRange)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// Size returns key's size from HeadObject, or objstore.ErrNotExist, which
// it also returns for a missing bucket (see the package doc).
func (b *Bucket) Size(ctx context.Context, key string) (int64, error) {
	k, err := b.key(key)
	if err != nil {
		return 0, fmt.Errorf("size: %w", err)
	}
	out, err := b.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &b.bucket, Key: k})
	if err != nil {
		return 0, fmt.Errorf("size %s: %w", key, translate(err))
	}
	if out.ContentLength == nil {
		return 0, fmt.Errorf("size %s: store sent no Content-Length", key)
	}
	return *out.ContentLength, nil
}

// Delete removes key. A missing key is success, whether the store answers
// 204 (AWS) or 404 NoSuchKey (some compatible stores).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	k, err := b.key(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err = b.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &b.bucket, Key: k})
	if err != nil && !errors.Is(sentinel(err), objstore.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, translate(err))
	}
	return nil
}

// List calls fn with every key under prefix, in lexical order, page by page
// from ListObjectsV2 (general purpose buckets return keys in UTF-8 binary
// order, which is Go's string order). It stops at and returns, unwrapped,
// the first error fn returns.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string) error) error {
	pages := awss3.NewListObjectsV2Paginator(b.client, &awss3.ListObjectsV2Input{
		Bucket: &b.bucket,
		Prefix: aws.String(b.prefix + prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, translate(err))
		}
		for _, obj := range page.Contents {
			if obj.Key == nil {
				continue
			}
			if err := fn(strings.TrimPrefix(*obj.Key, b.prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// translate returns the objstore sentinel for err, or err itself.
func translate(err error) error {
	if s := sentinel(err); s != nil {
		return s
	}
	return err
}

// sentinel maps a provider error to an objstore sentinel, or returns nil.
// The S3 error code decides when there is one; the HTTP status only when
// the code is unknown, as for HEAD responses, which have no body.
func sentinel(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return objstore.ErrNotExist
		case "PreconditionFailed", "ConditionalRequestConflict":
			return objstore.ErrExists
		case "InvalidRange":
			return objstore.ErrInvalidRange
		case "NoSuchBucket":
			return nil // a 404, but a configuration error, not a missing object
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			return objstore.ErrNotExist
		case http.StatusPreconditionFailed:
			return objstore.ErrExists
		case http.StatusRequestedRangeNotSatisfiable:
			return objstore.ErrInvalidRange
		}
	}
	return nil
}
