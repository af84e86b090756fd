package executor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/journal"
)

// bkTestSHA is the sha256 of b in lower-case hex.
func bkTestSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// bkTestSh runs a command with the real /bin/sh, with extra environment.
func bkTestSh(t *testing.T, cmd string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	c := exec.Command("/bin/sh", "-c", cmd)
	c.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

type bkTestNode struct {
	name, root, dataRoot, backupDir, uuid, nodeID string
}

// bkTestMakeNode lays out a node's data root as facts §6 describes it, under
// a directory whose name needs quoting.
func bkTestMakeNode(t *testing.T, name string) bkTestNode {
	t.Helper()
	root := filepath.Join(t.TempDir(), "node "+name+" $(touch pwned) 'q'")
	n := bkTestNode{name: name, root: root, dataRoot: filepath.Join(root, "var", "lib", "neuwerk"),
		backupDir: filepath.Join(root, "var", "backups", "neuwerk"), uuid: uuid.NewString()}
	var err error
	if n.nodeID, err = health.NodeIDFromUUID(n.uuid); err != nil {
		t.Fatal(err)
	}
	files := map[string]struct {
		body string
		mode os.FileMode
	}{
		"node_id":                         {n.uuid + "\n", 0o644},
		"bootstrap-token":                 {`{"tokens":[{"kid":"k1","token":"b64:c2VjcmV0"}]}`, 0o600},
		"http-tls/ca.crt":                 {"-----BEGIN CERTIFICATE-----\n", 0o644},
		"http-tls/node.key":               {"-----BEGIN PRIVATE KEY-----\n", 0o600},
		"cluster/raft/raft.db":            {strings.Repeat("raft log entry\n", 2000), 0o600},
		"cluster/tls/node.key":            {"key", 0o600},
		"local-policy-store/policy.json":  {`{"rules":[]}`, 0o644},
		"compliance/cis-waivers.txt":      {"", 0o644},
		"name with space/and 'quote'.txt": {"odd names survive", 0o640},
	}
	for rel, f := range files {
		p := filepath.Join(n.dataRoot, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, f.mode)
	}
	os.Chmod(filepath.Join(n.dataRoot, "cluster"), 0o700)
	return n
}

// bkTestTree snapshots a directory: relative path → mode and content.
func bkTestTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + bkTestSHA(b)
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bkTestBackup runs BackupCreateCommand for n and returns its record.
func bkTestBackup(t *testing.T, n bkTestNode, setID string, at time.Time, live bool) journal.BackupArchive {
	t.Helper()
	arc := journal.BackupArchivePath(n.backupDir, n.name, setID, at)
	out, errOut, code := bkTestSh(t, BackupCreateCommand(n.dataRoot, arc, live))
	if code != 0 {
		t.Fatalf("backup of %s: exit %d\n%s%s", n.name, code, out, errOut)
	}
	sha, size, err := ParseBackupOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	mode := "quiesced"
	if live {
		mode = "live"
	}
	return journal.BackupArchive{Node: n.name, NodeUUID: n.uuid, NodeID: n.nodeID, Release: "1.0.0", BinarySHA256: strings.Repeat("1", 64),
		DataRoot: n.dataRoot, Archive: arc, SHA256: sha, Size: size, Mode: mode, CreatedAt: at}
}

func TestBackupCreateVerifyRestore(t *testing.T) {
	n := bkTestMakeNode(t, "fw-a")
	at := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	before := bkTestTree(t, n.dataRoot)
	rec := bkTestBackup(t, n, "3fa85f64", at, false)

	if want := filepath.Join(n.backupDir, "neuwerk-fw-a-3fa85f64-20261123T101500Z.tar.gz"); rec.Archive != want {
		t.Errorf("archive %s, want %s", rec.Archive, want)
	}
	b, err := os.ReadFile(rec.Archive)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SHA256 != bkTestSHA(b) || rec.Size != int64(len(b)) {
		t.Errorf("reported sha/size %s/%d, file has %s/%d", rec.SHA256, rec.Size, bkTestSHA(b), len(b))
	}
	for p, want := range map[string]os.FileMode{rec.Archive: 0o600, n.backupDir: 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	if _, err := os.Stat(rec.Archive + ".partial"); !os.IsNotExist(err) {
		t.Error("the .partial file was left")
	}
	// The archive holds the data root under its base name, as tar -C parent base made it.
	lst, errOut, code := bkTestSh(t, "tar -tzf "+lockQuote(rec.Archive))
	if code != 0 || !strings.Contains(lst, "neuwerk/cluster/raft/raft.db\n") || !strings.Contains(lst, "neuwerk/node_id\n") {
		t.Errorf("archive listing (exit %d %s):\n%s", code, errOut, lst)
	}

	out, _, code := bkTestSh(t, BackupVerifyCommand(rec.Archive, rec.SHA256))
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, out)
	}
	if sha, size, err := ParseBackupOutput(out); err != nil || sha != rec.SHA256 || size != rec.Size {
		t.Errorf("verify reported %s %d %v", sha, size, err)
	}

	// Damage the node, then restore it from its own archive.
	os.Remove(filepath.Join(n.dataRoot, "node_id"))
	os.WriteFile(filepath.Join(n.dataRoot, "cluster", "raft", "raft.db"), []byte("corrupt"), 0o600)
	os.WriteFile(filepath.Join(n.dataRoot, "new-file"), []byte("x"), 0o600)
	damaged := bkTestTree(t, n.dataRoot)
	set := journal.BackupSet{ID: "3fa85f64", Cluster: "prod", CreatedAt: at, Nodes: []journal.BackupArchive{rec}}
	restoreAt := at.Add(time.Hour)
	cmd, err := BackupSetRestoreCommand(set, "prod", "fw-a", n.dataRoot, restoreAt)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = bkTestSh(t, cmd)
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "nwroll-restore: restored") {
		t.Errorf("restore said %q", out)
	}
	if after := bkTestTree(t, n.dataRoot); !reflect.DeepEqual(after, before) {
		t.Errorf("restored tree differs:\n got %v\nwant %v", after, before)
	}
	aside := n.dataRoot + ".pre-restore-20261123T111500Z"
	if got := bkTestTree(t, aside); !reflect.DeepEqual(got, damaged) {
		t.Errorf("the previous data root was not kept aside intact")
	}
	if _, err := os.Stat(filepath.Join(n.root, "pwned")); err == nil {
		t.Fatal("a command substitution in a path ran")
	}
	// A second restore at the same second will not overwrite the aside copy.
	_, errOut, code = bkTestSh(t, cmd)
	if code != BackupExistsExitCode || !strings.Contains(errOut, "already exists") {
		t.Errorf("second restore onto an existing aside: exit %d %s", code, errOut)
	}
}

func TestBackupTamperedArchiveRefused(t *testing.T) {
	n := bkTestMakeNode(t, "fw-a")
	at := time.Now().UTC()
	rec := bkTestBackup(t, n, "3fa85f64", at, false)
	b, _ := os.ReadFile(rec.Archive)
	b[len(b)/2] ^= 0xff
	os.WriteFile(rec.Archive, b, 0o600)

	_, errOut, code := bkTestSh(t, BackupVerifyCommand(rec.Archive, rec.SHA256))
	if code != BackupMismatchExitCode || !strings.Contains(errOut, rec.SHA256) || !strings.Contains(errOut, bkTestSHA(b)) {
		t.Errorf("verify of a tampered archive: exit %d: %s", code, errOut)
	}
	before := bkTestTree(t, n.dataRoot)
	set := journal.BackupSet{ID: "3fa85f64", Cluster: "prod", Nodes: []journal.BackupArchive{rec}}
	cmd, err := BackupSetRestoreCommand(set, "prod", "fw-a", n.dataRoot, at)
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code = bkTestSh(t, cmd)
	if code != BackupMismatchExitCode || !strings.Contains(errOut, "refusing to restore") {
		t.Errorf("restore of a tampered archive: exit %d: %s", code, errOut)
	}
	if after := bkTestTree(t, n.dataRoot); !reflect.DeepEqual(after, before) {
		t.Error("a refused restore changed the data root")
	}
	os.Remove(rec.Archive)
	if _, _, code = bkTestSh(t, BackupVerifyCommand(rec.Archive, rec.SHA256)); code != BackupMissingExitCode {
		t.Errorf("verify of a missing archive: exit %d", code)
	}
}

// An archive whose members would land outside the data root is refused,
// even with a matching sha256 (a set manifest pointing at some other tar).
func TestBackupRestoreRefusesForeignMembers(t *testing.T) {
	n := bkTestMakeNode(t, "fw-a")
	arc := journal.BackupArchivePath(n.backupDir, "fw-a", "3fa85f64", time.Now())
	os.MkdirAll(n.backupDir, 0o700)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"neuwerk/node_id", "etc/cron.d/evil"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
	}
	tw.Close()
	zw.Close()
	os.WriteFile(arc, buf.Bytes(), 0o600)
	before := bkTestTree(t, n.dataRoot)
	_, errOut, code := bkTestSh(t, BackupRestoreCommand(arc, bkTestSHA(buf.Bytes()), n.dataRoot, n.dataRoot+".aside"))
	if code != BackupMismatchExitCode || !strings.Contains(errOut, "etc/cron.d/evil is outside neuwerk") {
		t.Errorf("foreign member: exit %d: %s", code, errOut)
	}
	if after := bkTestTree(t, n.dataRoot); !reflect.DeepEqual(after, before) {
		t.Error("a refused restore changed the data root")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(n.dataRoot), "etc")); err == nil {
		t.Error("the foreign member was extracted")
	}
}

func TestBackupCreateRefusals(t *testing.T) {
	n := bkTestMakeNode(t, "fw-a")
	at := time.Now().UTC()
	rec := bkTestBackup(t, n, "3fa85f64", at, false)
	before, _ := os.ReadFile(rec.Archive)
	_, errOut, code := bkTestSh(t, BackupCreateCommand(n.dataRoot, rec.Archive, false))
	if code != BackupExistsExitCode || !strings.Contains(errOut, "never overwritten") {
		t.Errorf("backup onto an existing archive: exit %d: %s", code, errOut)
	}
	if after, _ := os.ReadFile(rec.Archive); !bytes.Equal(after, before) {
		t.Error("an existing archive was changed")
	}
	_, errOut, code = bkTestSh(t, BackupCreateCommand(n.dataRoot+"-missing", rec.Archive+"2", false))
	if code != BackupMissingExitCode || !strings.Contains(errOut, "is not a directory") {
		t.Errorf("backup of a missing data root: exit %d: %s", code, errOut)
	}
}

// GNU tar exits 1 when a file changes while it reads it, which happens on a
// live node. A fake tar on PATH runs the real one and then exits 1.
func TestBackupLiveToleratesChangedFiles(t *testing.T) {
	realTar, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar")
	}
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "tar"), []byte("#!/bin/sh\n"+lockQuote(realTar)+" \"$@\"\necho 'tar: neuwerk/cluster/raft/raft.db: file changed as we read it' >&2\nexit 1\n"), 0o755)
	env := "PATH=" + bin + ":" + os.Getenv("PATH")
	n := bkTestMakeNode(t, "fw-b")

	arc := journal.BackupArchivePath(n.backupDir, n.name, "abcd0001", time.Now())
	_, errOut, code := bkTestSh(t, BackupCreateCommand(n.dataRoot, arc, false), env)
	if code != 1 || !strings.Contains(errOut, "failed (exit 1)") {
		t.Errorf("quiesced backup with tar exit 1: exit %d: %s", code, errOut)
	}
	for _, p := range []string{arc, arc + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("a failed backup left %s", p)
		}
	}

	out, errOut, code := bkTestSh(t, BackupCreateCommand(n.dataRoot, arc, true), env)
	if code != 0 || !strings.Contains(errOut, "live backup") {
		t.Fatalf("live backup with tar exit 1: exit %d: %s%s", code, out, errOut)
	}
	if sha, _, err := ParseBackupOutput(out); err != nil || sha == "" {
		t.Errorf("live backup report: %v", err)
	}

	// Any other tar failure fails a live backup too.
	os.WriteFile(filepath.Join(bin, "tar"), []byte("#!/bin/sh\nexit 2\n"), 0o755)
	if _, _, code := bkTestSh(t, BackupCreateCommand(n.dataRoot, arc+"x", true), env); code != 2 {
		t.Errorf("live backup with tar exit 2: exit %d", code)
	}
}

func bkTestSet(id, cluster string, at time.Time, nodes ...string) journal.BackupSet {
	s := journal.BackupSet{ID: id, Cluster: cluster, CreatedAt: at}
	for i, n := range nodes {
		u := uuid.NewSHA1(uuid.NameSpaceOID, []byte(n)).String()
		dec, _ := health.NodeIDFromUUID(u)
		s.Put(journal.BackupArchive{Node: n, NodeUUID: u, NodeID: dec, Release: "1.0.0",
			Archive: journal.BackupArchivePath("/var/backups/neuwerk", n, id, at.Add(time.Duration(i)*time.Minute)),
			SHA256:  strings.Repeat(strconv.Itoa(i%10), 64), Size: 1000, Mode: "quiesced",
			DataRoot: "/var/lib/neuwerk", CreatedAt: at.Add(time.Duration(i) * time.Minute)})
	}
	return s
}

func TestBackupRestoreSourceRefusesMixing(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	set := bkTestSet("aaaa0001", "prod", at, "fw-a", "fw-b", "fw-c")
	arc, sha, err := set.RestoreSource("prod", "fw-b")
	if err != nil || arc != set.Nodes[1].Archive || sha != set.Nodes[1].SHA256 {
		t.Errorf("RestoreSource(fw-b) = %s %s %v", arc, sha, err)
	}
	if _, _, err := set.RestoreSource("staging", "fw-b"); err == nil || !strings.Contains(err.Error(), "never mixed across clusters") {
		t.Errorf("other cluster: %v", err)
	}
	if _, _, err := set.RestoreSource("prod", "fw-d"); err == nil || !strings.Contains(err.Error(), "holds no archive of node fw-d") {
		t.Errorf("node not in set: %v", err)
	}
	// A record edited to point at another set's or another node's archive.
	other := bkTestSet("bbbb0002", "prod", at, "fw-a", "fw-b")
	for _, tc := range []struct{ name, archive string }{
		{"another set", other.Nodes[1].Archive},
		{"another node", set.Nodes[0].Archive},
	} {
		mixed := bkTestSet("aaaa0001", "prod", at, "fw-a", "fw-b", "fw-c")
		mixed.Nodes[1].Archive = tc.archive
		if _, _, err := mixed.RestoreSource("prod", "fw-b"); err == nil || !strings.Contains(err.Error(), "is not this node's archive from this set") {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err := mixed.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", tc.name)
		}
	}
	if _, err := BackupSetRestoreCommand(set, "prod", "fw-b", "/srv/neuwerk", at); err == nil || !strings.Contains(err.Error(), "/var/lib/neuwerk") {
		t.Errorf("restore into another data root: %v", err)
	}
	bad := bkTestSet("aaaa0001", "prod", at, "fw-a")
	bad.Nodes[0].NodeID = "12345"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "is not the decimal of node_uuid") {
		t.Errorf("node_id/uuid mismatch: %v", err)
	}
}

// The node keeps its own copy of the set manifest, written by a real sh.
func TestBackupManifestOnNode(t *testing.T) {
	n := bkTestMakeNode(t, "fw-a")
	at := time.Now().UTC().Truncate(time.Second)
	set := journal.BackupSet{ID: "cafe0001", Cluster: "prod", RunID: "7f3a", CreatedBy: "alice@ops-1", CreatedAt: at}
	set.Put(bkTestBackup(t, n, set.ID, at, false))
	cmd, err := BackupManifestWriteCommand(n.backupDir, set)
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := bkTestSh(t, cmd); code != 0 {
		t.Fatalf("write: exit %d %s%s", code, out, errOut)
	}
	p := BackupManifestPath(n.backupDir, set.ID)
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node manifest %s: %v %v", p, fi, err)
	}
	out, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := journal.ParseBackupSet(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, set) {
		t.Errorf("node copy:\n got %+v\nwant %+v", got, set)
	}
	if _, err := BackupManifestWriteCommand(n.backupDir, journal.BackupSet{ID: "x y"}); err == nil {
		t.Error("built a write command for an invalid set")
	}
}

func TestBackupParseOutput(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	if s, n, err := ParseBackupOutput("noise\nnwroll-backup: sha256=" + sha + " size=1234\n"); err != nil || s != sha || n != 1234 {
		t.Errorf("%s %d %v", s, n, err)
	}
	for _, bad := range []string{"", "nwroll-backup: sha256=xyz size=1", "nwroll-backup: sha256=" + sha, "nwroll-backup: sha256=" + sha + " size=-1"} {
		if _, _, err := ParseBackupOutput(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if got := journal.BackupArchivePath("/var/backups/neuwerk", "fw a/../x", "id1", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); got != "/var/backups/neuwerk/neuwerk-fw_a_.._x-id1-20260102T030405Z.tar.gz" {
		t.Errorf("BackupArchivePath = %s", got)
	}
}
