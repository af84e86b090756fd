package journal

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nwroll/nwroll/health"
)

func bkTestSet(id, cluster string, at time.Time, nodes ...string) BackupSet {
	s := BackupSet{ID: id, Cluster: cluster, CreatedAt: at}
	for i, n := range nodes {
		u := uuid.NewSHA1(uuid.NameSpaceOID, []byte(n)).String()
		dec, _ := health.NodeIDFromUUID(u)
		s.Put(BackupArchive{Node: n, NodeUUID: u, NodeID: dec, Release: "1.0.0",
			Archive: BackupArchivePath("/var/backups/neuwerk", n, id, at.Add(time.Duration(i)*time.Minute)),
			SHA256:  strings.Repeat(strconv.Itoa(i%10), 64), Size: 1000, Mode: "quiesced",
			DataRoot: "/var/lib/neuwerk", CreatedAt: at.Add(time.Duration(i) * time.Minute)})
	}
	return s
}

func TestBackupChooseReusableSet(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	nodes := []string{"fw-a", "fw-b", "fw-c"}
	fresh := bkTestSet("fresh001", "prod", now.Add(-2*time.Hour), nodes...)
	older := bkTestSet("older001", "prod", now.Add(-5*time.Hour), nodes...)
	stale := bkTestSet("stale001", "prod", now.Add(-48*time.Hour), nodes...)
	partial := bkTestSet("part0001", "prod", now.Add(-time.Hour), "fw-a", "fw-b")
	foreign := bkTestSet("forn0001", "staging", now.Add(-time.Minute), nodes...)
	extra := bkTestSet("extr0001", "prod", now.Add(-30*time.Minute), "fw-a", "fw-b", "fw-c", "fw-d")

	got, err := ChooseReusableSet([]BackupSet{stale, older, partial, fresh, foreign, extra}, "prod", nodes, 24*time.Hour, now)
	if err != nil || got.ID != "fresh001" {
		t.Errorf("chose %v, %v; want fresh001", got, err)
	}
	_, err = ChooseReusableSet([]BackupSet{stale, partial, foreign, extra}, "prod", nodes, 24*time.Hour, now)
	if err == nil {
		t.Fatal("chose a set that does not fit")
	}
	for _, w := range []string{"no archive of fw-c", "belongs to cluster \"staging\"", "also holds fw-d", "take a fresh backup"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("reason %q missing from %q", w, err)
		}
	}
	if err := stale.CheckReusable("prod", nodes, 24*time.Hour, now); err == nil || !strings.Contains(err.Error(), "older than 24h0m0s") {
		t.Errorf("stale: %v", err)
	}
	if err := stale.CheckReusable("prod", nodes, 0, now); err != nil {
		t.Errorf("no age limit: %v", err)
	}
	if _, err := ChooseReusableSet(nil, "prod", nodes, time.Hour, now); err == nil || !strings.Contains(err.Error(), "no backup set of cluster prod") {
		t.Errorf("no sets: %v", err)
	}
	if s, ok := FindBackupSet([]BackupSet{older, fresh}, "older001"); !ok || s.ID != "older001" {
		t.Error("FindBackupSet")
	}
}

func TestBackupSetSaveLoad(t *testing.T) {
	state := filepath.Join(t.TempDir(), "nwroll")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a := bkTestSet("aaaa0001", "prod", now.Add(-time.Hour), "fw-a", "fw-b")
	b := bkTestSet("bbbb0002", "prod", now, "fw-a", "fw-b")
	for _, s := range []BackupSet{a, b} {
		p, err := SaveBackupSet(state, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(state, "prod", "backups", s.ID+".json"); p != want {
			t.Errorf("saved to %s, want %s", p, want)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", p, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Join(state, "prod", "backups")); fi.Mode().Perm() != 0o700 {
		t.Errorf("backups dir mode %v", fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(state, "prod", "backups", "junk.json"), []byte("{"), 0o600)
	sets, warnings, err := LoadBackupSets(state, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[0].ID != "bbbb0002" || sets[1].ID != "aaaa0001" {
		t.Errorf("loaded %v (newest first wanted)", sets)
	}
	if !sets[1].CreatedAt.Equal(a.CreatedAt) || !reflect.DeepEqual(sets[1].Nodes[0].SHA256, a.Nodes[0].SHA256) {
		t.Errorf("round trip lost data: %+v", sets[1])
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "junk.json") {
		t.Errorf("warnings %q", warnings)
	}
	if sets, _, err := LoadBackupSets(state, "other"); err != nil || len(sets) != 0 {
		t.Errorf("other cluster: %v %v", sets, err)
	}
	bad := a
	bad.ID = "../escape"
	if _, err := SaveBackupSet(state, bad); err == nil {
		t.Error("saved a set with a path in its id")
	}
}
