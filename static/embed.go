// Package static holds the assets the binary serves under /static: the built
// stylesheet (from static/src with tailwind.config.js), small scripts and
// icons. URLs carry a content hash, so browsers may cache them for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// FS holds the assets, as served under /static/.
//
//go:embed css js favicon.svg
var FS embed.FS

var (
	versionsOnce sync.Once
	versions     map[string]string
)

// Path is the URL of an asset, e.g. Path("css/app.css") →
// "/static/css/app.css?v=1a2b3c4d5e6f".
func Path(name string) string {
	versionsOnce.Do(func() {
		versions = map[string]string{}
		_ = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := FS.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			versions[p] = hex.EncodeToString(sum[:6])
			return nil
		})
	})
	return "/static/" + name + "?v=" + versions[name]
}
