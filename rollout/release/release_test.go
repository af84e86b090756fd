package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// relTestBinary is a distinct fake neuwerk binary per version.
func relTestBinary(version string) []byte {
	return []byte("#!/bin/sh\n# neuwerk test release " + version + "\necho neuwerk\n")
}

func relTestSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// relTestWrite builds a release directory dir/<version> in Neuwerk's shape
// (what sim.writeRelease and a GitHub release download look like) and
// returns its path.
func relTestWrite(t *testing.T, dir, version string) string {
	t.Helper()
	rdir := filepath.Join(dir, version)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := relTestBinary(version)
	if err := os.WriteFile(filepath.Join(rdir, "neuwerk"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{
		"release_version": version,
		"git_revision":    "0123456789abcdef0123456789abcdef01234567",
		"provider":        "github",
		"target":          map[string]any{"os": "ubuntu-24.04-minimal", "arch": "amd64"},
		"image_reference": nil,
		"artifacts": []map[string]any{
			{"path": "neuwerk", "size": len(bin), "sha256": relTestSHA(bin)},
			{"path": "neuwerk-ubuntu-24.04-minimal-amd64-rootfs.tar.zst", "size": 123456, "sha256": strings.Repeat("ab", 32)},
		},
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	relTestWriteFile(t, filepath.Join(rdir, "manifest.json"), mb)
	relTestWriteFile(t, filepath.Join(rdir, "SHA256SUMS"), []byte(relTestSHA(bin)+"  neuwerk\n"+
		strings.Repeat("ab", 32)+"  neuwerk-ubuntu-24.04-minimal-amd64-rootfs.tar.zst\n"))
	return rdir
}

func relTestWriteFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type relTestEntry struct {
	name     string
	body     []byte
	typeflag byte
	link     string
	size     int64 // when non-zero, the header's size (may lie)
}

// relTestTarGz writes a real tar.gz with archive/tar + compress/gzip.
func relTestTarGz(t *testing.T, p string, entries []relTestEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Linkname: e.link, Size: int64(len(e.body))}
		if e.typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode, h.Size = 0o755, 0
		}
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink || h.Typeflag == tar.TypeChar {
			h.Size = 0
		}
		if e.size != 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && len(e.body) > 0 {
			if _, err := tw.Write(e.body); err != nil && e.size == 0 {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	zw.Close()
	relTestWriteFile(t, p, buf.Bytes())
}

// relTestDirEntries turns a release dir into tar entries under prefix.
func relTestDirEntries(t *testing.T, rdir, prefix string) []relTestEntry {
	t.Helper()
	var out []relTestEntry
	if prefix != "" {
		out = append(out, relTestEntry{name: prefix + "/", typeflag: tar.TypeDir})
	}
	for _, n := range []string{"manifest.json", "SHA256SUMS", "neuwerk"} {
		b, err := os.ReadFile(filepath.Join(rdir, n))
		if err != nil {
			t.Fatal(err)
		}
		name := n
		if prefix != "" {
			name = prefix + "/" + n
		}
		out = append(out, relTestEntry{name: name, body: b})
	}
	return out
}

func relTestErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("LoadRelease accepted the release; want an error containing %q", wants)
	}
	var re *Error
	if !errors.As(err, &re) {
		t.Errorf("error is %T, want *ReleaseError: %v", err, err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\n lacks %q", err, w)
		}
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestReleaseLoadDir(t *testing.T) {
	rdir := relTestWrite(t, t.TempDir(), "1.1.0")
	r, err := Load(rdir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Cleanup()
	bin := relTestBinary("1.1.0")
	if r.Version != "1.1.0" || r.GitRevision != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("version/revision = %q/%q", r.Version, r.GitRevision)
	}
	if r.SHA256 != relTestSHA(bin) || r.Size != int64(len(bin)) {
		t.Errorf("sha/size = %s/%d, want %s/%d", r.SHA256, r.Size, relTestSHA(bin), len(bin))
	}
	if r.BinaryPath != filepath.Join(rdir, "neuwerk") || r.Dir != rdir || r.Source != rdir {
		t.Errorf("paths: binary %s dir %s source %s", r.BinaryPath, r.Dir, r.Source)
	}
	if r.ShortSHA() != relTestSHA(bin)[:12] {
		t.Errorf("ShortSHA = %s", r.ShortSHA())
	}
	if err := r.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.BinaryPath); err != nil {
		t.Errorf("Cleanup of a directory release removed its files: %v", err)
	}
}

func TestReleaseLoadTarGz(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(tmp, "tmp"))
	if err := os.Mkdir(filepath.Join(tmp, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	rdir := relTestWrite(t, filepath.Join(tmp, "src"), "1.1.0")
	for _, tc := range []struct{ name, prefix string }{
		{"one top-level dir", "neuwerk-1.1.0"},
		{"flat", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arc := filepath.Join(tmp, "rel-"+strings.ReplaceAll(tc.name, " ", "-")+".tar.gz")
			relTestTarGz(t, arc, relTestDirEntries(t, rdir, tc.prefix))
			r, err := Load(arc)
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != "1.1.0" || r.SHA256 != relTestSHA(relTestBinary("1.1.0")) || r.Source != arc {
				t.Errorf("got %+v", r)
			}
			got, err := os.ReadFile(r.BinaryPath)
			if err != nil || !bytes.Equal(got, relTestBinary("1.1.0")) {
				t.Fatalf("extracted binary: %v", err)
			}
			if fi, _ := os.Stat(r.BinaryPath); fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("extracted binary mode %v is readable by others", fi.Mode().Perm())
			}
			if !strings.HasPrefix(r.Dir, filepath.Join(tmp, "tmp")) {
				t.Errorf("extracted to %s, not under TMPDIR", r.Dir)
			}
			if err := r.Cleanup(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(r.BinaryPath); !os.IsNotExist(err) {
				t.Errorf("Cleanup left %s: %v", r.BinaryPath, err)
			}
			relTestNoTempLeft(t, filepath.Join(tmp, "tmp"))
		})
	}
}

// The tar(1) a user packs a release with must be accepted too.
func TestReleaseLoadSystemTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	tmp := t.TempDir()
	relTestWrite(t, tmp, "1.1.0")
	arc := filepath.Join(tmp, "neuwerk-1.1.0.tar.gz")
	if out, err := exec.Command("tar", "-C", tmp, "-czf", arc, "1.1.0").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	r, err := Load(arc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Cleanup()
	if r.Version != "1.1.0" {
		t.Errorf("version %q", r.Version)
	}
}

func relTestNoTempLeft(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
}

func TestReleaseTamperedBinary(t *testing.T) {
	rdir := relTestWrite(t, t.TempDir(), "1.1.0")
	bin := relTestBinary("1.1.0")
	want := relTestSHA(bin)

	// Same size, different bytes: only the sha256 can tell.
	evil := bytes.Clone(bin)
	evil[len(evil)-2] ^= 0x20
	relTestWriteFile(t, filepath.Join(rdir, "neuwerk"), evil)
	_, err := Load(rdir)
	relTestErr(t, err, rdir, "neuwerk", "does not match", "expected sha256 "+want, "found sha256 "+relTestSHA(evil), "re-download the release")

	// A different size is reported as such.
	relTestWriteFile(t, filepath.Join(rdir, "neuwerk"), append(bytes.Clone(bin), '\n'))
	_, err = Load(rdir)
	relTestErr(t, err, "neuwerk", "wrong size", "expected "+strconv.Itoa(len(bin))+" bytes", "found "+strconv.Itoa(len(bin)+1)+" bytes", "re-download")
}

func TestReleaseManifestAndSumsDisagree(t *testing.T) {
	rdir := relTestWrite(t, t.TempDir(), "1.1.0")
	other := strings.Repeat("0", 64)
	relTestWriteFile(t, filepath.Join(rdir, "SHA256SUMS"), []byte(other+"  neuwerk\n"))
	_, err := Load(rdir)
	relTestErr(t, err, "SHA256SUMS", "disagrees with manifest.json", relTestSHA(relTestBinary("1.1.0")), other, "do not edit manifest.json")

	// A manifest edited to fit a swapped binary is still caught, because
	// SHA256SUMS disagrees with it.
	rdir = relTestWrite(t, t.TempDir(), "1.1.0")
	evil := []byte("#!/bin/sh\necho evil\n")
	relTestWriteFile(t, filepath.Join(rdir, "neuwerk"), evil)
	mb, _ := os.ReadFile(filepath.Join(rdir, "manifest.json"))
	var m map[string]any
	json.Unmarshal(mb, &m)
	arts := m["artifacts"].([]any)
	arts[0].(map[string]any)["sha256"] = relTestSHA(evil)
	arts[0].(map[string]any)["size"] = len(evil)
	mb, _ = json.Marshal(m)
	relTestWriteFile(t, filepath.Join(rdir, "manifest.json"), mb)
	_, err = Load(rdir)
	relTestErr(t, err, "SHA256SUMS", "disagrees", relTestSHA(evil))

	// SHA256SUMS listing manifest.json protects the manifest itself.
	rdir = relTestWrite(t, t.TempDir(), "1.1.0")
	mb, _ = os.ReadFile(filepath.Join(rdir, "manifest.json"))
	sums, _ := os.ReadFile(filepath.Join(rdir, "SHA256SUMS"))
	sums = append(sums, []byte(relTestSHA(mb)+" *manifest.json\n")...)
	relTestWriteFile(t, filepath.Join(rdir, "SHA256SUMS"), sums)
	if _, err := Load(rdir); err != nil {
		t.Fatalf("release with manifest.json in SHA256SUMS refused: %v", err)
	}
	relTestWriteFile(t, filepath.Join(rdir, "manifest.json"), bytes.Replace(mb, []byte("1.1.0"), []byte("1.2.0"), 1))
	_, err = Load(rdir)
	relTestErr(t, err, "manifest.json", "does not match its line in SHA256SUMS", relTestSHA(mb))
}

func TestReleaseMissingFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(rdir string)
		wants  []string
	}{
		{"no manifest", func(d string) { os.Remove(filepath.Join(d, "manifest.json")) }, []string{"manifest.json", "cannot be read", "no such file"}},
		{"no SHA256SUMS", func(d string) { os.Remove(filepath.Join(d, "SHA256SUMS")) }, []string{"SHA256SUMS", "cannot be read"}},
		{"no binary", func(d string) { os.Remove(filepath.Join(d, "neuwerk")) }, []string{"neuwerk", "cannot be read"}},
		{"binary is a dir", func(d string) { os.Remove(filepath.Join(d, "neuwerk")); os.Mkdir(filepath.Join(d, "neuwerk"), 0o755) }, []string{"neuwerk", "not a regular file"}},
		{"manifest lists no neuwerk", func(d string) {
			relTestWriteFile(t, filepath.Join(d, "manifest.json"), []byte(`{"release_version":"1.1.0","artifacts":[{"path":"other","size":1,"sha256":"`+strings.Repeat("a", 64)+`"}]}`))
		}, []string{"manifest.json", "lists no neuwerk artifact", "other"}},
		{"SHA256SUMS lacks neuwerk", func(d string) {
			relTestWriteFile(t, filepath.Join(d, "SHA256SUMS"), []byte(strings.Repeat("a", 64)+"  other\n"))
		}, []string{"SHA256SUMS", "has no line for neuwerk"}},
		{"manifest not JSON", func(d string) {
			relTestWriteFile(t, filepath.Join(d, "manifest.json"), []byte("release_version: 1.1.0\n"))
		}, []string{"manifest.json", "not a valid release manifest"}},
		{"manifest no version", func(d string) {
			relTestWriteFile(t, filepath.Join(d, "manifest.json"), []byte(`{"artifacts":[]}`))
		}, []string{"manifest.json", "release_version"}},
		{"SHA256SUMS garbage", func(d string) { relTestWriteFile(t, filepath.Join(d, "SHA256SUMS"), []byte("hello world\n")) }, []string{"SHA256SUMS", "line 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdir := relTestWrite(t, t.TempDir(), "1.1.0")
			tc.break_(rdir)
			_, err := Load(rdir)
			relTestErr(t, err, append([]string{rdir}, tc.wants...)...)
		})
	}
	_, err := Load(filepath.Join(t.TempDir(), "nope"))
	relTestErr(t, err, "nope", "cannot be read")
	plain := filepath.Join(t.TempDir(), "rel.tar.gz")
	relTestWriteFile(t, plain, []byte("not gzip"))
	_, err = Load(plain)
	relTestErr(t, err, "neither a directory nor a .tar.gz")
}

func TestReleaseHostileArchives(t *testing.T) {
	tmp := t.TempDir()
	tmpdir := filepath.Join(tmp, "tmp")
	if err := os.Mkdir(tmpdir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmpdir)
	good := relTestDirEntries(t, relTestWrite(t, filepath.Join(tmp, "src"), "1.1.0"), "rel")
	oldMax, oldEntries := releaseMaxArchiveFile, releaseMaxEntries
	t.Cleanup(func() { releaseMaxArchiveFile, releaseMaxEntries = oldMax, oldEntries })
	releaseMaxArchiveFile, releaseMaxEntries = 1<<20, 50

	many := slices.Repeat([]relTestEntry{{name: "rel/x", body: []byte("x")}}, 60)
	for i := range many {
		many[i].name = "rel/f" + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		name    string
		entries []relTestEntry
		wants   []string
	}{
		{"dot-dot", append(good, relTestEntry{name: "../escaped", body: []byte("x")}), []string{"../escaped", "climbs out"}},
		{"nested dot-dot", append(good, relTestEntry{name: "rel/a/../../../escaped", body: []byte("x")}), []string{"climbs out"}},
		{"absolute", append(good, relTestEntry{name: "/tmp/escaped-abs", body: []byte("x")}), []string{"/tmp/escaped-abs", "absolute"}},
		{"symlink out", append(good, relTestEntry{name: "rel/passwd", typeflag: tar.TypeSymlink, link: "/etc/passwd"}), []string{"rel/passwd", "is a link", "/etc/passwd"}},
		{"symlink then write through it", []relTestEntry{{name: "rel", typeflag: tar.TypeSymlink, link: ".."}, {name: "rel/escaped", body: []byte("x")}}, []string{"is a link"}},
		{"hard link", append(good, relTestEntry{name: "rel/h", typeflag: tar.TypeLink, link: "/etc/shadow"}), []string{"is a link"}},
		{"device", append(good, relTestEntry{name: "rel/dev", typeflag: tar.TypeChar}), []string{"rel/dev", "not a plain file"}},
		{"absurd size", append(good, relTestEntry{name: "rel/big", body: []byte("x"), size: 5 << 30}), []string{"rel/big", "absurd size"}},
		{"too many entries", many, []string{"more than 50 entries"}},
		{"duplicate", append(good, relTestEntry{name: "rel/neuwerk", body: []byte("evil")}), []string{"rel/neuwerk", "appears twice"}},
		{"no manifest", []relTestEntry{{name: "a/x", body: []byte("x")}, {name: "b/y", body: []byte("y")}}, []string{"manifest.json", "is not in the archive", "a/, b/"}},
		{"empty", nil, []string{"empty archive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arc := filepath.Join(tmp, "hostile.tar.gz")
			relTestTarGz(t, arc, tc.entries)
			_, err := Load(arc)
			relTestErr(t, err, append([]string{arc}, tc.wants...)...)
			relTestNoTempLeft(t, tmpdir)
			for _, p := range []string{filepath.Join(tmp, "escaped"), filepath.Join(tmpdir, "escaped"), "/tmp/escaped-abs"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("extraction wrote %s", p)
				}
			}
		})
	}
	// A truncated archive is refused, not half-loaded.
	arc := filepath.Join(tmp, "trunc.tar.gz")
	relTestTarGz(t, arc, good)
	b, _ := os.ReadFile(arc)
	relTestWriteFile(t, arc, b[:len(b)/2])
	_, err := Load(arc)
	relTestErr(t, err, "truncated or damaged")
	relTestNoTempLeft(t, tmpdir)
}

func TestReleaseCatalog(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", t.TempDir())
	relTestWrite(t, dir, "1.10.0")
	relTestWrite(t, dir, "1.2.0")
	relTestWrite(t, dir, "1.0.0")
	// A .tar.gz of another release is loaded too.
	src := relTestWrite(t, t.TempDir(), "2.0.0")
	relTestTarGz(t, filepath.Join(dir, "neuwerk-2.0.0.tar.gz"), relTestDirEntries(t, src, "neuwerk-2.0.0"))
	// A broken release is skipped with a warning.
	bad := relTestWrite(t, dir, "1.3.0-bad")
	relTestWriteFile(t, filepath.Join(bad, "neuwerk"), []byte("tampered"))
	// The same binary under another name is a duplicate.
	dup := filepath.Join(dir, "zz-copy")
	os.MkdirAll(dup, 0o755)
	for _, n := range []string{"neuwerk", "SHA256SUMS"} {
		b, _ := os.ReadFile(filepath.Join(dir, "1.0.0", n))
		relTestWriteFile(t, filepath.Join(dup, n), b)
	}
	mb, _ := os.ReadFile(filepath.Join(dir, "1.0.0", "manifest.json"))
	relTestWriteFile(t, filepath.Join(dup, "manifest.json"), bytes.Replace(mb, []byte(`"1.0.0"`), []byte(`"1.0.0-copy"`), 1))
	relTestWriteFile(t, filepath.Join(dir, "README"), []byte("not a release"))

	known, warnings, err := LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, r := range known {
		versions = append(versions, r.Version)
	}
	if want := []string{"1.0.0", "1.2.0", "1.10.0", "2.0.0"}; !reflect.DeepEqual(versions, want) {
		t.Errorf("catalog versions = %v, want %v", versions, want)
	}
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, "\n"), "1.3.0-bad") || !strings.Contains(strings.Join(warnings, "\n"), "is also release 1.0.0") {
		t.Errorf("warnings = %q", warnings)
	}
	tgz := known[3]
	if tgz.BinaryPath != "" || tgz.Dir != "" || tgz.SHA256 != relTestSHA(relTestBinary("2.0.0")) {
		t.Errorf("catalog entry from .tar.gz: %+v", tgz)
	}
	relTestNoTempLeft(t, os.Getenv("TMPDIR"))
	if got, ok := known.Version(relTestSHA(relTestBinary("1.2.0"))); !ok || got != "1.2.0" {
		t.Errorf("catalog version = %q, %v", got, ok)
	}
	if _, _, err := LoadCatalog(filepath.Join(dir, "missing")); err == nil {
		t.Error("catalog of a missing dir: no error")
	}
}

func FuzzReleaseManifest(f *testing.F) {
	f.Add([]byte(`{"release_version":"1.1.0","git_revision":"abc","artifacts":[{"path":"neuwerk","size":12,"sha256":"` + strings.Repeat("A", 64) + `"}]}`))
	f.Add([]byte(`{"release_version":"1.1.0","provider":"aws","target":{},"image_reference":null,"artifacts":[{"path":"./bin/../neuwerk","size":0,"sha256":"` + strings.Repeat("0", 64) + `"}]}`))
	f.Add([]byte(`{"release_version":"","artifacts":[]}`))
	f.Add([]byte(`{"release_version":"x","artifacts":[{"path":"../neuwerk","size":-1,"sha256":"zz"}]} trailing`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if strings.TrimSpace(m.ReleaseVersion) == "" || len(m.Artifacts) == 0 {
			t.Fatalf("accepted a manifest without version or artifacts: %q", b)
		}
		seen := map[string]bool{}
		for _, a := range m.Artifacts {
			if c, ok := releaseCleanRel(a.Path); !ok || c != a.Path || seen[a.Path] {
				t.Fatalf("artifact path %q not clean, escaping or duplicate", a.Path)
			}
			seen[a.Path] = true
			if s, ok := NormSHA(a.SHA256); !ok || s != a.SHA256 || a.Size < 0 {
				t.Fatalf("artifact %+v not normalised", a)
			}
		}
		// Parsing is idempotent: the normalised manifest parses to itself.
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-parse: %v\n%+v\n%+v", err, m, m2)
		}
	})
}

func FuzzReleaseSHA256SUMS(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 64) + "  neuwerk\n" + strings.Repeat("B", 64) + " *manifest.json\r\n# comment\n\n"))
	f.Add([]byte("x  ../etc/passwd\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := ParseSHA256SUMS(b)
		if err != nil {
			return
		}
		for name, sha := range sums {
			if c, ok := releaseCleanRel(name); !ok || c != name {
				t.Fatalf("name %q not clean", name)
			}
			if s, ok := NormSHA(sha); !ok || s != sha {
				t.Fatalf("sha %q not normalised", sha)
			}
		}
	})
}
