package fs

import (
	"fmt"
	"path/filepath"
	"strings"
)

// tmpDirName is the directory under the root that holds in-progress Puts. It
// is reserved: no key may start with it, and List never descends into it.
const tmpDirName = ".strata-tmp"

// validateKey returns an error wrapping ErrInvalidKey unless key is a
// canonical relative slash-separated path outside the temp directory.
func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w %q: contains NUL", ErrInvalidKey, key)
	}
	if key[0] == '/' {
		return fmt.Errorf("%w %q: leading '/'", ErrInvalidKey, key)
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w %q: empty segment", ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, key, seg)
		case i == 0 && seg == tmpDirName:
			return fmt.Errorf("%w %q: %s is reserved", ErrInvalidKey, key, tmpDirName)
		}
	}
	return nil
}

// path returns the file that holds key.
func (b *Bucket) path(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}
