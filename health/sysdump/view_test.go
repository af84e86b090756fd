package sysdump

import (
	"errors"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health/internal/healthtest"
)

func TestArchiveHead(t *testing.T) {
	data := healthtest.ClusterSysdump(t)
	a := writeArchive(t, data)
	h, err := a.Head()
	if err != nil {
		t.Fatal(err)
	}
	if h.Manifest == nil || !h.Manifest.Partial || h.Manifest.NodesFailed != 1 {
		t.Errorf("manifest = %+v", h.Manifest)
	}
	if h.Overview == nil || h.Overview.LeaderNodeID != healthtest.IDB || len(h.Overview.Nodes) != 3 {
		t.Errorf("overview = %+v", h.Overview)
	}
	if h.Failures == nil || len(h.Failures.Failures) != 1 || h.Failures.Failures[0].NodeID != healthtest.IDC {
		t.Errorf("failures = %+v", h.Failures)
	}
	if h.Membership == nil || h.Membership.CurrentTerm != 7 || len(h.Problems) != 0 {
		t.Errorf("membership = %+v, problems %v", h.Membership, h.Problems)
	}

	// Head stops before the nested archives, so a tail cut off after them
	// does not matter to it (List still reports it).
	cut := writeArchive(t, data[:len(data)*3/4])
	if h, err := cut.Head(); err != nil || h.Overview == nil {
		t.Errorf("head of truncated archive: %+v, %v", h, err)
	}
	if _, err := cut.ListOuter(); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("ListOuter of truncated archive: %v", err)
	}
}

func TestArchiveHeadBadOverviewAndNodeSysdump(t *testing.T) {
	files := healthtest.ClusterSysdumpFiles(t, []byte("x"), []byte("y"))
	files[1].Body = []byte(`{"leader_node_id":"1"}`)
	h, err := writeArchive(t, healthtest.TarGz(t, files)).Head()
	if err != nil || h.Overview != nil || h.Manifest == nil || len(h.Problems) != 1 || !strings.Contains(h.Problems[0], `missing "nodes"`) {
		t.Errorf("head = %+v, %v", h, err)
	}

	node := writeArchive(t, healthtest.TarGz(t, healthtest.NodeArchiveFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", nil)))
	h, err = node.Head()
	if err != nil || h.Manifest != nil || h.Overview != nil || h.Failures != nil || h.Membership != nil {
		t.Errorf("per-node head = %+v, %v", h, err)
	}
}

func TestArchiveListOuterThenNested(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))
	outer, err := a.ListOuter()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range outer {
		paths = append(paths, m.Path)
		if m.Parent != "" {
			t.Errorf("ListOuter returned nested member %s", m.Path)
		}
		if want := strings.HasSuffix(m.Path, ".tar.gz"); m.Nested != want {
			t.Errorf("%s Nested = %v", m.Path, m.Nested)
		}
	}
	if len(paths) != 8 || paths[5] != NodeArchivePath(healthtest.IDA) {
		t.Errorf("outer = %v", paths)
	}

	inner, err := a.ListNested(NodeArchivePath(healthtest.IDB))
	if err != nil {
		t.Fatal(err)
	}
	if len(inner) != 35 || inner[0].Name != "var/lib/neuwerk/bootstrap-token" || inner[34].Path != NestedPath(NodeArchivePath(healthtest.IDB), NodeSummaryManifest) {
		t.Errorf("nested listing: %d members, first %+v", len(inner), inner[0])
	}
	if _, err := a.ListNested(NodeArchivePath(healthtest.IDC)); !errors.Is(err, ErrMemberNotFound) {
		t.Errorf("failed node's archive: %v", err)
	}
	if _, err := a.ListNested(OverviewPath); err == nil || !strings.Contains(err.Error(), "not a nested archive") {
		t.Errorf("plain member as archive: %v", err)
	}
}

func TestArchiveListNestedDamaged(t *testing.T) {
	goodA := healthtest.TarGz(t, healthtest.NodeArchiveFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", nil))
	a := writeArchive(t, healthtest.TarGz(t, healthtest.ClusterSysdumpFiles(t, goodA[:len(goodA)/2], []byte("oops"))))
	bad, err := a.ListNested(NodeArchivePath(healthtest.IDB))
	if err != nil || len(bad) != 1 || bad[0].Path != NodeArchivePath(healthtest.IDB) || !strings.Contains(bad[0].Err, "not a gzip") {
		t.Errorf("not-gzip nested = %+v, %v", bad, err)
	}
	cut, err := a.ListNested(NodeArchivePath(healthtest.IDA))
	if err != nil || len(cut) == 0 || cut[len(cut)-1].Name != "" || !strings.Contains(cut[len(cut)-1].Err, "truncated") {
		t.Errorf("truncated nested = %+v, %v", cut, err)
	}
}

func TestArchiveReadPrefix(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))
	full, err := a.Read(OverviewPath)
	if err != nil {
		t.Fatal(err)
	}
	head, size, err := a.ReadPrefix(OverviewPath, 10)
	if err != nil || size != int64(len(full)) || string(head) != string(full[:10]) {
		t.Errorf("prefix = %q, size %d (want %d), %v", head, size, len(full), err)
	}
	all, size, err := a.ReadPrefix(OverviewPath, 1<<20)
	if err != nil || string(all) != string(full) || size != int64(len(full)) {
		t.Errorf("whole member via prefix: %d bytes, size %d, %v", len(all), size, err)
	}
	id, _, err := a.ReadPrefix(NestedPath(NodeArchivePath(healthtest.IDA), "var/lib/neuwerk/node_id"), 100)
	if err != nil || string(id) != "3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f\n" {
		t.Errorf("nested prefix = %q, %v", id, err)
	}
	if _, _, err := a.ReadPrefix("nope.json", 10); !errors.Is(err, ErrMemberNotFound) {
		t.Errorf("missing member: %v", err)
	}
}

func TestArchiveListOuterMetas(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))
	outer, metas, err := a.ListOuterMetas()
	if err != nil {
		t.Fatal(err)
	}
	if len(outer) != 8 {
		t.Errorf("%d outer members", len(outer))
	}
	if len(metas) != 2 || metas[healthtest.IDA].Addr != "10.0.1.11:9600" || metas[healthtest.IDB].Role != "leader" ||
		metas[healthtest.IDB].NodeID != healthtest.IDB {
		t.Errorf("metas = %+v", metas)
	}
	for _, p := range []string{"nodes/1/meta.json", "nodes/1/2/meta.json", "nodes//meta.json", "meta.json", "nodes/1/meta.json.bak"} {
		if id, ok := nodeMetaID(p); ok != (p == "nodes/1/meta.json") || (ok && id != "1") {
			t.Errorf("nodeMetaID(%q) = %q, %v", p, id, ok)
		}
	}
}
