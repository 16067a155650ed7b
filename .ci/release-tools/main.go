// Command modproxy writes the modules of one git tree into a GOPROXY
// directory (served as GOPROXY=file://DIR) at one version, as the go
// command would fetch them from the repository tagged at that revision:
// the files git archive gives (so .gitattributes export-ignore counts),
// without nested modules, with the root LICENSE added to a module that has
// none. A go.sum written against this proxy holds the hashes the published
// release will have.
//
//	go run . -repo /path/to/clone -rev TREE-ISH -version v0.1.0 -out DIR
//
// -rev is any tree-ish: the release commit, HEAD, or the tree of the work
// tree (git write-tree). Every go.mod in the tree whose module path is
// -prefix or under it is written, except those under .ci/ and testdata/.
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	repo := flag.String("repo", ".", "the git work tree to read")
	rev := flag.String("rev", "HEAD", "the tree-ish to serve")
	vers := flag.String("version", "", "the version to serve it as (required)")
	out := flag.String("out", "", "the GOPROXY directory to write into (required)")
	prefix := flag.String("prefix", "github.com/fanout-go/fanout", "serve the modules whose path is this or under it")
	stamp := flag.String("time", "", "the versions' time, RFC 3339 (default: now)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("modproxy: ")
	if *vers == "" || *out == "" {
		log.Fatal("-version and -out are required")
	}
	t := time.Now().UTC()
	if *stamp != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, *stamp); err != nil {
			log.Fatal(err)
		}
	}
	archive, err := git(*repo, "-c", "core.autocrlf=input", "-c", "core.eol=lf", "archive", "--format=zip", *rev)
	if err != nil {
		log.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		log.Fatal(err)
	}
	var license *zip.File
	var dirs []string
	for _, f := range zr.File {
		switch dir, base := path.Split(f.Name); {
		case f.Name == "LICENSE":
			license = f
		case base == "go.mod" && !skipped(dir):
			dirs = append(dirs, strings.TrimSuffix(dir, "/"))
		}
	}
	for _, dir := range dirs {
		if err := serve(zr, license, dir, *prefix, *vers, *out, t); err != nil {
			log.Fatalf("%s: %v", dir, err)
		}
	}
}

// skipped reports whether a go.mod in dir (with a trailing slash) is no
// module of the release: the CI's own tools and test data.
func skipped(dir string) bool {
	return strings.HasPrefix(dir, ".ci/") || strings.HasPrefix(dir, "testdata/") ||
		strings.Contains(dir, "/testdata/") || strings.Contains(dir, "node_modules/")
}

// serve writes the module in dir (relative to the tree's root, "" for the
// root) at vers into the proxy directory out.
func serve(zr *zip.Reader, license *zip.File, dir, prefix, vers, out string, t time.Time) error {
	sub := ""
	if dir != "" {
		sub = dir + "/"
	}
	var files []modzip.File
	var gomod []byte
	haveLicense := false
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, sub) || strings.HasSuffix(f.Name, "/") {
			continue
		}
		name := strings.TrimPrefix(f.Name, sub)
		switch name {
		case "go.mod":
			b, err := read(f)
			if err != nil {
				return err
			}
			gomod = b
		case "LICENSE":
			haveLicense = true
		}
		files = append(files, archived{name, f})
	}
	if !haveLicense && license != nil && dir != "" {
		files = append(files, archived{"LICENSE", license})
	}
	modPath := modfile.ModulePath(gomod)
	if modPath != prefix && !strings.HasPrefix(modPath, prefix+"/") {
		return nil
	}
	m := module.Version{Path: modPath, Version: vers}
	if err := module.Check(m.Path, m.Version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	vdir := filepath.Join(out, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	var zbuf bytes.Buffer
	if err := modzip.Create(&zbuf, m, files); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{vers, t})
	if err != nil {
		return err
	}
	base := filepath.Join(vdir, vers)
	for _, w := range []struct {
		name string
		data []byte
	}{{".zip", zbuf.Bytes()}, {".mod", gomod}, {".info", info}} {
		if err := os.WriteFile(base+w.name, w.data, 0o644); err != nil {
			return err
		}
	}
	return addVersion(filepath.Join(vdir, "list"), vers)
}

// addVersion adds vers to the proxy's list file, once.
func addVersion(list, vers string) error {
	b, err := os.ReadFile(list)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	lines := strings.Fields(string(b))
	if slices.Contains(lines, vers) {
		return nil
	}
	lines = append(lines, vers)
	return os.WriteFile(list, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

type archived struct {
	name string
	f    *zip.File
}

func (a archived) Path() string                 { return a.name }
func (a archived) Lstat() (os.FileInfo, error)  { return a.f.FileInfo(), nil }
func (a archived) Open() (io.ReadCloser, error) { return a.f.Open() }

func read(f *zip.File) ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return b, nil
}
