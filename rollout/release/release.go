package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// A release (design §1 "REL") is a directory holding manifest.json in
// Neuwerk's release-manifest shape, SHA256SUMS and the neuwerk binary, or a
// .tar.gz of such a directory. Neuwerk itself exposes no version (facts §0.2),
// so the manifest is the only place a version lives, and a running build is
// identified by the sha256 of its binary.

// Names of the files in a release directory.
const (
	ManifestFile = "manifest.json"
	SumsFile     = "SHA256SUMS"
	BinaryName   = "neuwerk"
)

// releaseFix is the advice every refusal of a damaged release ends with.
const releaseFix = "re-download the release; do not edit manifest.json or SHA256SUMS by hand"

// Limits for reading releases. Variables so tests can lower them.
var (
	releaseMaxManifest    int64 = 1 << 20 // manifest.json and SHA256SUMS
	releaseMaxArchiveFile int64 = 2 << 30 // one file inside a release .tar.gz
	releaseMaxArchiveSum  int64 = 8 << 30 // everything inside a release .tar.gz
	releaseMaxEntries           = 10000   // entries inside a release .tar.gz
	releaseMaxNameLen           = 4096    // one entry name inside a release .tar.gz
)

// Manifest is a release's manifest.json in Neuwerk's release-manifest
// shape (packer/metadata/release-manifest.schema.json, facts §3). Fields this
// tool does not use (provider, target, image_reference) are accepted and
// ignored.
type Manifest struct {
	ReleaseVersion string     `json:"release_version"`
	GitRevision    string     `json:"git_revision"`
	Artifacts      []Artifact `json:"artifacts"`
}

// Artifact is one file of a release as the manifest lists it.
type Artifact struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Release is a verified release: its neuwerk binary matches both
// manifest.json and SHA256SUMS.
type Release struct {
	Version     string // manifest release_version
	GitRevision string // manifest git_revision
	BinaryPath  string // local path of the neuwerk binary ("" for a catalog entry loaded from a .tar.gz)
	SHA256      string // of the binary, lower-case hex
	Size        int64  // of the binary, in bytes
	Dir         string // the release directory (a private temp dir when Source is a .tar.gz)
	Source      string // what was loaded: the directory or the .tar.gz
	Manifest    Manifest

	tempDir string
}

// Cleanup removes the private directory a .tar.gz release was extracted to.
// It is safe to call more than once, and does nothing for a directory
// release.
func (r *Release) Cleanup() error {
	if r == nil || r.tempDir == "" {
		return nil
	}
	dir := r.tempDir
	r.tempDir = ""
	return os.RemoveAll(dir)
}

// ShortSHA is the first 12 hex digits of the binary's sha256.
func (r *Release) ShortSHA() string { return ShortSHA(r.SHA256) }

// Error is a refused release: one message naming the file, what was
// expected, what was found, and the fix.
type Error struct {
	Source   string // the release as given (directory or .tar.gz)
	File     string // the file at fault, relative to the release ("" if the release itself)
	Problem  string // what is wrong
	Expected string // optional
	Actual   string // optional
	Fix      string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "release %s", e.Source)
	if e.File != "" {
		fmt.Fprintf(&b, ": %s", e.File)
	}
	fmt.Fprintf(&b, ": %s", e.Problem)
	if e.Expected != "" || e.Actual != "" {
		fmt.Fprintf(&b, " (expected %s, found %s)", orNone(e.Expected), orNone(e.Actual))
	}
	if e.Fix != "" {
		fmt.Fprintf(&b, "; %s", e.Fix)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// Load loads and verifies the release at path: a directory or a
// .tar.gz of one. The neuwerk artifact must be listed in manifest.json, and
// the binary's size and sha256 must match both manifest.json and
// SHA256SUMS; otherwise the release is refused with a *Error. For a
// .tar.gz the release is extracted to a private temp dir, which the caller
// removes with Cleanup.
func Load(p string) (*Release, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, &Error{Source: p, Problem: "cannot be read: " + releaseErrText(err),
			Fix: "pass a release directory (manifest.json, SHA256SUMS, neuwerk) or a .tar.gz of one"}
	}
	if fi.IsDir() {
		dir, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		return verifyReleaseDir(p, dir)
	}
	if !fi.Mode().IsRegular() || !releaseIsGzip(p) {
		return nil, &Error{Source: p, Problem: "is neither a directory nor a .tar.gz",
			Fix: "pass a release directory (manifest.json, SHA256SUMS, neuwerk) or a .tar.gz of one"}
	}
	tmp, err := os.MkdirTemp("", "nwroll-release-*")
	if err != nil {
		return nil, fmt.Errorf("release %s: make a temp dir to extract it: %w", p, err)
	}
	if err := releaseExtract(p, tmp); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	dir, err := releaseArchiveRoot(p, tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	r, err := verifyReleaseDir(p, dir)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	r.tempDir = tmp
	return r, nil
}

func releaseErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func releaseIsGzip(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [2]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	return magic[0] == 0x1f && magic[1] == 0x8b
}

// verifyReleaseDir checks the release in dir; source names it in messages.
func verifyReleaseDir(source, dir string) (*Release, error) {
	mb, err := releaseReadSmall(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, &Error{Source: source, File: ManifestFile, Problem: "cannot be read: " + releaseErrText(err),
			Fix: "a release directory holds manifest.json, SHA256SUMS and neuwerk; " + releaseFix}
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, &Error{Source: source, File: ManifestFile, Problem: err.Error(), Fix: releaseFix}
	}
	art, ok := m.BinaryArtifact()
	if !ok {
		return nil, &Error{Source: source, File: ManifestFile,
			Problem: "lists no neuwerk artifact", Expected: `an artifact with "path": "neuwerk"`,
			Actual: releaseArtifactPaths(m), Fix: releaseFix}
	}
	sb, err := releaseReadSmall(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, &Error{Source: source, File: SumsFile, Problem: "cannot be read: " + releaseErrText(err),
			Fix: "a release directory holds manifest.json, SHA256SUMS and neuwerk; " + releaseFix}
	}
	sums, err := ParseSHA256SUMS(sb)
	if err != nil {
		return nil, &Error{Source: source, File: SumsFile, Problem: err.Error(), Fix: releaseFix}
	}
	sumSHA, ok := sums[art.Path]
	if !ok {
		return nil, &Error{Source: source, File: SumsFile, Problem: "has no line for " + art.Path,
			Expected: art.SHA256 + "  " + art.Path, Fix: releaseFix}
	}
	if sumSHA != art.SHA256 {
		return nil, &Error{Source: source, File: SumsFile,
			Problem:  "disagrees with manifest.json about the sha256 of " + art.Path,
			Expected: art.SHA256 + " (manifest.json)", Actual: sumSHA + " (SHA256SUMS)", Fix: releaseFix}
	}
	// A SHA256SUMS that also covers manifest.json protects it from edits.
	if want, ok := sums[ManifestFile]; ok {
		got := releaseSHA(mb)
		if got != want {
			return nil, &Error{Source: source, File: ManifestFile,
				Problem: "does not match its line in SHA256SUMS", Expected: "sha256 " + want, Actual: "sha256 " + got, Fix: releaseFix}
		}
	}
	bin := filepath.Join(dir, filepath.FromSlash(art.Path))
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, &Error{Source: source, File: art.Path, Problem: "cannot be read: " + releaseErrText(err),
			Fix: "the binary must sit next to manifest.json; " + releaseFix}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{Source: source, File: art.Path, Problem: "is not a regular file", Fix: releaseFix}
	}
	if fi.Size() != art.Size {
		return nil, &Error{Source: source, File: art.Path, Problem: "has the wrong size for manifest.json",
			Expected: fmt.Sprintf("%d bytes", art.Size), Actual: fmt.Sprintf("%d bytes", fi.Size()), Fix: releaseFix}
	}
	got, err := FileSHA256(bin)
	if err != nil {
		return nil, &Error{Source: source, File: art.Path, Problem: "cannot be read: " + releaseErrText(err), Fix: releaseFix}
	}
	if got != art.SHA256 {
		return nil, &Error{Source: source, File: art.Path, Problem: "does not match manifest.json and SHA256SUMS",
			Expected: "sha256 " + art.SHA256, Actual: "sha256 " + got, Fix: releaseFix}
	}
	return &Release{
		Version:     m.ReleaseVersion,
		GitRevision: m.GitRevision,
		BinaryPath:  bin,
		SHA256:      got,
		Size:        fi.Size(),
		Dir:         dir,
		Source:      source,
		Manifest:    m,
	}, nil
}

func releaseArtifactPaths(m Manifest) string {
	if len(m.Artifacts) == 0 {
		return "no artifacts"
	}
	ps := make([]string, len(m.Artifacts))
	for i, a := range m.Artifacts {
		ps[i] = a.Path
	}
	return strings.Join(ps, ", ")
}

func releaseReadSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, releaseMaxManifest+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > releaseMaxManifest {
		return nil, fmt.Errorf("larger than %d bytes", releaseMaxManifest)
	}
	return b, nil
}

func releaseSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// FileSHA256 is the sha256 of a file, in lower-case hex.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ParseManifest decodes and checks a manifest.json: release_version
// is set, and every artifact has a relative path, a size and a 64-digit
// sha256, with no path listed twice. Hex digests are returned lower-case.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("is not a valid release manifest: %v", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("is not a valid release manifest: text after the JSON object")
	}
	if strings.TrimSpace(m.ReleaseVersion) == "" {
		return Manifest{}, errors.New(`has no "release_version"`)
	}
	if m.ReleaseVersion != strings.TrimSpace(m.ReleaseVersion) || strings.ContainsAny(m.ReleaseVersion, "\x00\n\r/\\") {
		return Manifest{}, fmt.Errorf(`has an unusable "release_version" %q`, m.ReleaseVersion)
	}
	if len(m.Artifacts) == 0 {
		return Manifest{}, errors.New(`lists no "artifacts"`)
	}
	seen := map[string]bool{}
	for i := range m.Artifacts {
		a := &m.Artifacts[i]
		clean, ok := releaseCleanRel(a.Path)
		if !ok {
			return Manifest{}, fmt.Errorf("artifact %d has an unusable path %q (a relative path inside the release is expected)", i+1, a.Path)
		}
		a.Path = clean
		if seen[clean] {
			return Manifest{}, fmt.Errorf("lists artifact %s twice", clean)
		}
		seen[clean] = true
		if a.Size < 0 {
			return Manifest{}, fmt.Errorf("artifact %s has a negative size %d", clean, a.Size)
		}
		sha, ok := NormSHA(a.SHA256)
		if !ok {
			return Manifest{}, fmt.Errorf("artifact %s has a malformed sha256 %q (64 hex digits expected)", clean, a.SHA256)
		}
		a.SHA256 = sha
	}
	return m, nil
}

// BinaryArtifact is the manifest's neuwerk artifact: the one whose path is
// "neuwerk" or, failing that, the only one whose base name is.
func (m Manifest) BinaryArtifact() (Artifact, bool) {
	var byBase []Artifact
	for _, a := range m.Artifacts {
		if a.Path == BinaryName {
			return a, true
		}
		if path.Base(a.Path) == BinaryName {
			byBase = append(byBase, a)
		}
	}
	if len(byBase) == 1 {
		return byBase[0], true
	}
	return Artifact{}, false
}

// releaseCleanRel cleans a slash-separated relative path, refusing absolute
// paths, "..", empty names and NUL.
func releaseCleanRel(p string) (string, bool) {
	if p == "" || strings.ContainsAny(p, "\x00\\") || strings.HasPrefix(p, "/") {
		return "", false
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// NormSHA lower-cases s and reports whether it is a sha256: 64 hex digits.
func NormSHA(s string) (string, bool) {
	s = strings.ToLower(s)
	if len(s) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// ParseSHA256SUMS reads sha256sum output: "<sha>  <file>" or "<sha> *<file>"
// lines. Blank lines and lines starting with # are ignored. It returns the
// lower-case sha by cleaned file name.
func ParseSHA256SUMS(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), int(releaseMaxManifest))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sha, rest, ok := strings.Cut(line, " ")
		if !ok || (!strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "*")) {
			return nil, fmt.Errorf("line %d is not \"<sha256>  <file>\": %q", n, Clip(line))
		}
		norm, ok := NormSHA(sha)
		if !ok {
			return nil, fmt.Errorf("line %d has a malformed sha256 %q", n, Clip(sha))
		}
		name, ok := releaseCleanRel(rest[1:])
		if !ok {
			return nil, fmt.Errorf("line %d names an unusable file %q", n, Clip(rest[1:]))
		}
		if prev, dup := out[name]; dup && prev != norm {
			return nil, fmt.Errorf("lists %s twice with different sums", name)
		}
		out[name] = norm
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Clip shortens s to 80 bytes for an error message.
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// releaseExtract extracts the .tar.gz at src into dir, refusing anything a
// release does not need: links, devices, absolute or escaping names,
// duplicates, and absurd sizes. Files are written through an os.Root, so
// nothing can land outside dir.
func releaseExtract(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return &Error{Source: src, Problem: "cannot be read: " + releaseErrText(err), Fix: releaseFix}
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return &Error{Source: src, Problem: "is not a valid .tar.gz: " + err.Error(), Fix: releaseFix}
	}
	defer zr.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &archiveExtractor{src: src, root: root, tr: tar.NewReader(zr)}
	entries := 0
	for {
		hdr, err := x.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &Error{Source: src, Problem: "is not a valid .tar.gz: " + err.Error(), Fix: releaseFix}
		}
		entries++
		if entries > releaseMaxEntries {
			return x.refuse("", fmt.Sprintf("holds more than %d entries", releaseMaxEntries))
		}
		if err := x.extract(hdr); err != nil {
			return err
		}
	}
	if entries == 0 {
		return &Error{Source: src, Problem: "is an empty archive", Fix: releaseFix}
	}
	return nil
}

// archiveExtractor writes a release archive's entries below root, keeping
// count of the bytes unpacked so far.
type archiveExtractor struct {
	src   string
	root  *os.Root
	tr    *tar.Reader
	total int64
}

func (x *archiveExtractor) refuse(name, problem string) error {
	return &Error{Source: x.src, File: name, Problem: problem,
		Fix: "a release archive holds only plain files and directories under one top-level directory; " + releaseFix}
}

// extract writes one entry: a directory or a plain file; anything else is refused.
func (x *archiveExtractor) extract(hdr *tar.Header) error {
	if len(hdr.Name) > releaseMaxNameLen {
		return x.refuse(Clip(hdr.Name), "has an absurdly long name")
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	clean, skip, err := x.entryName(hdr)
	if err != nil || skip {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.MkdirAll(clean, 0o700); err != nil {
			return x.refuse(clean, "cannot be created: "+releaseErrText(err))
		}
		return nil
	case tar.TypeReg, '\x00':
		return x.writeFile(hdr, clean)
	case tar.TypeSymlink, tar.TypeLink:
		return x.refuse(clean, "is a link (to "+hdr.Linkname+"); links are not accepted in a release archive")
	default:
		return x.refuse(clean, fmt.Sprintf("is not a plain file or directory (tar type %q)", hdr.Typeflag))
	}
}

// entryName returns the entry's clean relative name, refusing absolute and
// climbing names; skip is set for the archive's top directory itself.
func (x *archiveExtractor) entryName(hdr *tar.Header) (clean string, skip bool, err error) {
	name := hdr.Name
	if strings.HasPrefix(name, "/") {
		return "", false, x.refuse(name, "is an absolute path")
	}
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
		if name == "." || name == "" {
			return "", true, nil
		}
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false, x.refuse(name, "climbs out of the release with ..")
		}
	}
	clean, ok := releaseCleanRel(name)
	if !ok {
		return "", false, x.refuse(name, "is not a usable relative name")
	}
	return clean, false, nil
}

// writeFile creates a plain file, once, with exactly the size its header gives.
func (x *archiveExtractor) writeFile(hdr *tar.Header, clean string) error {
	if hdr.Size < 0 || hdr.Size > releaseMaxArchiveFile {
		return x.refuse(clean, fmt.Sprintf("has an absurd size of %d bytes (limit %d)", hdr.Size, releaseMaxArchiveFile))
	}
	x.total += hdr.Size
	if x.total > releaseMaxArchiveSum {
		return x.refuse(clean, fmt.Sprintf("brings the archive past %d bytes unpacked", releaseMaxArchiveSum))
	}
	if d := path.Dir(clean); d != "." {
		if err := x.root.MkdirAll(d, 0o700); err != nil {
			return x.refuse(clean, "cannot be created: "+releaseErrText(err))
		}
	}
	mode := os.FileMode(0o600)
	if hdr.Mode&0o111 != 0 {
		mode = 0o700
	}
	out, err := x.root.OpenFile(clean, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return x.refuse(clean, "appears twice in the archive")
		}
		return x.refuse(clean, "cannot be created: "+releaseErrText(err))
	}
	n, err := io.Copy(out, io.LimitReader(x.tr, hdr.Size+1))
	cerr := out.Close()
	if err != nil {
		return &Error{Source: x.src, File: clean, Problem: "cannot be extracted: the archive is truncated or damaged (" + err.Error() + ")", Fix: releaseFix}
	}
	if cerr != nil {
		return cerr
	}
	if n != hdr.Size {
		return x.refuse(clean, fmt.Sprintf("is %d bytes but its header says %d", n, hdr.Size))
	}
	return nil
}

// releaseArchiveRoot finds the release inside an extracted archive: either
// flat (manifest.json at the top) or in one top-level directory.
func releaseArchiveRoot(src, tmp string) (string, error) {
	if _, err := os.Stat(filepath.Join(tmp, ManifestFile)); err == nil {
		return tmp, nil
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return "", err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 1 {
		d := filepath.Join(tmp, dirs[0])
		if _, err := os.Stat(filepath.Join(d, ManifestFile)); err == nil {
			return d, nil
		}
	}
	return "", &Error{Source: src, File: ManifestFile, Problem: "is not in the archive",
		Expected: "manifest.json at the top or in the one top-level directory", Actual: releaseTopNames(ents),
		Fix: "pack the release directory itself (tar -czf rel.tar.gz <dir>); " + releaseFix}
}

func releaseTopNames(ents []os.DirEntry) string {
	if len(ents) == 0 {
		return "nothing"
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	if len(names) > 6 {
		names = append(names[:6], "…")
	}
	return strings.Join(names, ", ")
}

// Catalog is a catalog of releases, used to identify a running build by
// the sha256 of its binary (facts §0.2).
type Catalog []*Release

// Lookup returns the release whose binary has sha.
func (k Catalog) Lookup(sha string) (*Release, bool) {
	sha = strings.ToLower(strings.TrimSpace(sha))
	if sha == "" {
		return nil, false
	}
	for _, r := range k {
		if r != nil && r.SHA256 == sha {
			return r, true
		}
	}
	return nil, false
}

// Version returns the version of the release whose binary has sha.
func (k Catalog) Version(sha string) (string, bool) {
	r, ok := k.Lookup(sha)
	if !ok {
		return "", false
	}
	return r.Version, true
}

// Cleanup removes every temp dir the catalog's releases hold.
func (k Catalog) Cleanup() {
	for _, r := range k {
		r.Cleanup()
	}
}

// ShortSHA is the first 12 characters of a sha256, as messages show it.
func ShortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// LoadCatalog loads every release under dir: each subdirectory and
// each .tar.gz/.tgz file (DIR/releases of the simulator, or a local release
// cache). Entries that are not valid releases are skipped, each with a
// warning; so is a second release with the same binary under another
// version. A .tar.gz entry is extracted only to be verified: its temp dir is
// removed at once, so its BinaryPath and Dir are empty. The error is only
// for a dir that cannot be listed.
func LoadCatalog(dir string) (Catalog, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("release catalog %s: %w", dir, err)
	}
	var (
		known    Catalog
		warnings []string
	)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		isArchive := strings.HasSuffix(e.Name(), ".tar.gz") || strings.HasSuffix(e.Name(), ".tgz")
		fi, err := os.Stat(p) // follow symlinks to release dirs
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("skipped %s: %s", p, releaseErrText(err)))
			continue
		}
		if !fi.IsDir() && !isArchive {
			continue // READMEs and the like
		}
		r, err := Load(p)
		if err != nil {
			warnings = append(warnings, "skipped "+err.Error())
			continue
		}
		if isArchive {
			r.Cleanup()
			r.BinaryPath, r.Dir = "", ""
		}
		if prev, dup := known.Lookup(r.SHA256); dup {
			if prev.Version != r.Version {
				warnings = append(warnings, fmt.Sprintf("skipped %s: its binary (sha256 %s) is also release %s in %s",
					p, r.ShortSHA(), prev.Version, prev.Source))
			}
			continue
		}
		known = append(known, r)
	}
	sort.SliceStable(known, func(i, j int) bool { return releaseVersionLess(known[i].Version, known[j].Version) })
	return known, warnings, nil
}

// releaseVersionLess orders versions by their dot-separated numeric parts
// (1.2.0 < 1.10.0), then textually.
func releaseVersionLess(a, b string) bool {
	pa, pb := releaseVersionParts(a), releaseVersionParts(b)
	if c := slices.Compare(pa, pb); c != 0 {
		return c < 0
	}
	return a < b
}

func releaseVersionParts(v string) []int {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	var parts []int
	for _, s := range strings.Split(v, ".") {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return parts
			}
			n = n*10 + int(c-'0')
			if n > 1<<30 {
				return parts
			}
		}
		parts = append(parts, n)
	}
	return parts
}
