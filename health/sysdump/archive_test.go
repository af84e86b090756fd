package sysdump

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/internal/healthtest"
)

func writeArchive(t testing.TB, data []byte) *Archive {
	t.Helper()
	path := filepath.Join(t.TempDir(), "neuwerk-cluster-sysdump-20260404T101530Z.tar.gz")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := OpenArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestArchiveListOuterAndNested(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))
	members, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	nested := map[string][]string{}
	for _, m := range members {
		if m.Parent == "" {
			outer = append(outer, m.Path)
			continue
		}
		nested[m.Parent] = append(nested[m.Parent], m.Name)
		if m.Path != m.Parent+"!"+m.Name {
			t.Errorf("nested path %q != parent!name", m.Path)
		}
	}
	wantOuter := []string{ // facts §13 `tar tzf`, numeric node order
		"manifest.json", "cluster/overview.json", "cluster/failures.json", "cluster/membership.json",
		"nodes/" + healthtest.IDA + "/meta.json", "nodes/" + healthtest.IDA + "/sysdump.tar.gz",
		"nodes/" + healthtest.IDB + "/meta.json", "nodes/" + healthtest.IDB + "/sysdump.tar.gz",
	}
	if strings.Join(outer, "\n") != strings.Join(wantOuter, "\n") {
		t.Errorf("outer members:\n%s\nwant:\n%s", strings.Join(outer, "\n"), strings.Join(wantOuter, "\n"))
	}
	for _, id := range []string{healthtest.IDA, healthtest.IDB} {
		inner := nested[NodeArchivePath(id)]
		if len(inner) != 35 || inner[0] != "var/lib/neuwerk/bootstrap-token" || inner[len(inner)-1] != NodeSummaryManifest {
			t.Errorf("node %s nested members: %d, first %q, last %q", id, len(inner), first(inner), last(inner))
		}
	}
	// The nested archive's own entry precedes its members and is marked.
	for i, m := range members {
		if m.Path == NodeArchivePath(healthtest.IDA) {
			if !m.Nested || m.Err != "" || members[i+1].Parent != m.Path {
				t.Errorf("nested entry = %+v, next = %+v", m, members[i+1])
			}
		}
	}
	// Modes survive: copied data-root files are 0600.
	for _, m := range members {
		if m.Name == "var/lib/neuwerk/http-tls/node.key" && m.Mode != 0o600 {
			t.Errorf("node.key mode = %o", m.Mode)
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func TestArchiveReadAndDecode(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))

	m, err := a.Manifest()
	if err != nil || !m.Partial || m.NodesSucceeded != 2 || m.NodesFailed != 1 {
		t.Errorf("manifest = %+v, %v", m, err)
	}
	o, err := a.Overview()
	if err != nil || o.LeaderNodeID != healthtest.IDB || len(o.Nodes) != 3 || o.Nodes[1].Status != "failed" {
		t.Errorf("overview = %+v, %v", o, err)
	}
	f, err := a.Failures()
	if err != nil || len(f.Failures) != 1 || f.Failures[0].NodeID != healthtest.IDC || f.Failures[0].Addr != "10.0.1.13:9600" {
		t.Errorf("failures = %+v, %v", f, err)
	}
	ms, err := a.Membership()
	if err != nil || ms.CurrentTerm != 7 || ms.VoterCount != 3 || len(ms.JointConfigs) != 1 || len(ms.JointConfigs[0]) != 3 || string(ms.VotedFor) != `"`+healthtest.IDB+`"` {
		t.Errorf("membership = %+v, %v", ms, err)
	}
	meta, err := a.NodeMeta(healthtest.IDA)
	if err != nil || meta.NodeID != healthtest.IDA || meta.Role != "follower" || meta.State == nil || meta.State.NodeID == nil {
		t.Fatalf("meta = %+v, %v", meta, err)
	}
	if id, _ := health.NodeIDFromUUID(*meta.State.NodeID); id != healthtest.IDA {
		t.Errorf("meta state.node_id %s maps to %s, want %s", *meta.State.NodeID, id, healthtest.IDA)
	}
	nm, err := a.NodeManifest(healthtest.IDB)
	if err != nil || len(nm.Entries) != 5 || nm.Entries[3].Status != "request-failed" || nm.Entries[3].Note == nil {
		t.Errorf("node manifest = %+v, %v", nm, err)
	}
	// A nested member read directly by its path.
	nodeID, err := a.Read(NestedPath(NodeArchivePath(healthtest.IDB), "var/lib/neuwerk/node_id"))
	if err != nil || string(nodeID) != "8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40\n" {
		t.Errorf("nested node_id = %q, %v", nodeID, err)
	}
	// The nested archive itself reads as raw gzip bytes.
	raw, err := a.Read(NodeArchivePath(healthtest.IDA))
	if err != nil || len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		t.Errorf("raw nested archive: %d bytes, %v", len(raw), err)
	}
	// C failed, so it has no nodes/<id>/ entries.
	if _, err := a.NodeMeta(healthtest.IDC); !errors.Is(err, ErrMemberNotFound) || !strings.Contains(err.Error(), NodeMetaPath(healthtest.IDC)) {
		t.Errorf("meta of failed node: %v", err)
	}
	if _, err := a.Read(NestedPath(NodeArchivePath(healthtest.IDA), "etc/neuwerk/config.yaml")); !errors.Is(err, ErrMemberNotFound) {
		t.Errorf("config.yaml is never collected: %v", err)
	}
}

func TestArchiveMemberCap(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))
	a.MaxMemberSize = 64
	_, err := a.Read(OverviewPath)
	if err == nil || !strings.Contains(err.Error(), "over the 64-byte cap") || !strings.Contains(err.Error(), a.Path) {
		t.Errorf("err = %v", err)
	}
	if b, err := a.Read("var/../manifest.json"); err == nil {
		t.Errorf("read a path that is not a member: %q", b)
	}
}

func TestArchiveBadInputs(t *testing.T) {
	good := healthtest.ClusterSysdump(t)
	notTar := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(bytes.Repeat([]byte("this is a log file, not a tar archive\n"), 40))
		_ = zw.Close()
		return buf.Bytes()
	}()
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"not gzip", []byte(`{"error":"admin role required"}`), "not a gzip file"},
		{"short junk", []byte("hi"), "not a gzip file"},
		{"gzip header cut", good[:5], "truncated"},
		{"not tar", notTar, "not a tar archive"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"truncated trailer", good[:len(good)-4], "truncated"},
		{"corrupt", corrupt, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := writeArchive(t, tt.data)
			_, err := a.List()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), a.Path) {
				t.Errorf("List err = %v, want it to name the file and say %q", err, tt.want)
			}
			if strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	if _, err := OpenArchive(filepath.Join(t.TempDir(), "missing.tar.gz")); err == nil || !strings.Contains(err.Error(), "missing.tar.gz") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := OpenArchive(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestArchiveDamagedNestedArchive(t *testing.T) {
	goodA := healthtest.TarGz(t, healthtest.NodeArchiveFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", nil))
	t.Run("not gzip", func(t *testing.T) {
		a := writeArchive(t, healthtest.TarGz(t, healthtest.ClusterSysdumpFiles(t, goodA, []byte("oops"))))
		members, err := a.List()
		if err != nil {
			t.Fatalf("outer listing should survive a bad nested archive: %v", err)
		}
		var bad ArchiveMember
		for _, m := range members {
			if m.Path == NodeArchivePath(healthtest.IDB) {
				bad = m
			}
		}
		if !bad.Nested || !strings.Contains(bad.Err, "not a gzip") {
			t.Errorf("nested entry = %+v", bad)
		}
		_, err = a.Read(NestedPath(NodeArchivePath(healthtest.IDB), NodeSummaryManifest))
		if err == nil || !strings.Contains(err.Error(), NodeArchivePath(healthtest.IDB)) {
			t.Errorf("read inside a bad nested archive: %v", err)
		}
	})
	t.Run("truncated part-way", func(t *testing.T) {
		a := writeArchive(t, healthtest.TarGz(t, healthtest.ClusterSysdumpFiles(t, goodA[:len(goodA)*2/3], goodA)))
		members, err := a.List()
		if err != nil {
			t.Fatal(err)
		}
		var damage []ArchiveMember
		inner := 0
		for _, m := range members {
			if m.Parent == NodeArchivePath(healthtest.IDA) {
				if m.Err != "" {
					damage = append(damage, m)
				} else {
					inner++
				}
			}
		}
		if len(damage) != 1 || damage[0].Name != "" || !strings.Contains(damage[0].Err, "truncated") {
			t.Errorf("damage entries = %+v", damage)
		}
		if inner == 0 || inner >= 35 {
			t.Errorf("%d members listed before the damage", inner)
		}
		// Members of the intact B archive after it still list and read.
		if _, err := a.NodeManifest(healthtest.IDB); err != nil {
			t.Errorf("B after damaged A: %v", err)
		}
	})
}

func TestArchiveWalkStopsOnCallbackError(t *testing.T) {
	a := writeArchive(t, healthtest.ClusterSysdump(t))
	stop := errors.New("enough")
	n := 0
	err := a.Walk(func(m ArchiveMember, r io.Reader) error {
		n++
		if m.Path == FailuresPath {
			b, _ := io.ReadAll(r)
			if !bytes.Contains(b, []byte(healthtest.IDC)) {
				t.Errorf("content = %s", b)
			}
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("err = %v after %d members", err, n)
	}
}

func FuzzArchive(f *testing.F) {
	f.Add(healthtest.ClusterSysdump(f))
	f.Add(healthtest.TarGz(f, []healthtest.TarFile{{Name: "nodes/1/sysdump.tar.gz", Body: []byte{0x1f, 0x8b, 8, 0}}}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := ListArchive(bytes.NewReader(data), "fuzz.tar.gz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "sysdump fuzz.tar.gz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, m := range members {
			if m.Err != "" || m.Nested {
				continue
			}
			b, err := ReadArchiveMember(bytes.NewReader(data), "fuzz.tar.gz", m.Path, 1<<20)
			if err == nil && m.Type == '0' && int64(len(b)) != m.Size {
				t.Fatalf("%s: read %d bytes, header says %d", m.Path, len(b), m.Size)
			}
		}
	})
}

// BenchmarkArchive lists a cluster sysdump with 200 MiB of incompressible
// member data (three nodes, each with a big journal), and reads the last
// nested member. It reports the peak live heap: it must stay near the
// reader's buffers, not grow with the archive.
func BenchmarkArchive(b *testing.B) {
	if testing.Short() {
		b.Skip("generates a 200 MiB archive")
	}
	const total = 200 << 20
	path := filepath.Join(b.TempDir(), "big-sysdump.tar.gz")
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{1})
	var nodes [][]byte
	for i, uuid := range []string{"3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", "c2e4f6a8-1b3d-4c5e-8f70-a1b2c3d4e5f6"} {
		journal := &healthtest.TarFile{Name: "system/journal/neuwerk-service.log", Src: rng, Size: total / 3}
		var buf bytes.Buffer
		if err := healthtest.WriteTarGz(&buf, gzip.BestSpeed, healthtest.NodeArchiveFiles(uuid, "fw-"+string(rune('a'+i)), journal)); err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, buf.Bytes())
	}
	files := healthtest.ClusterSysdumpFiles(b, nodes[0], nodes[1])
	files = append(files, healthtest.TarFile{Name: NodeArchivePath(healthtest.IDC), Body: nodes[2]})
	if err := healthtest.WriteTarGz(out, gzip.BestSpeed, files); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	nodes, files = nil, nil
	st, _ := os.Stat(path)
	a := &Archive{Path: path}

	measure := func(b *testing.B, op func() error) {
		runtime.GC()
		var peak atomic.Uint64
		stop, done := make(chan struct{}), make(chan struct{})
		go samplePeakHeap(&peak, stop, done)
		b.SetBytes(st.Size())
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		close(stop)
		<-done
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(st.Size())/(1<<20), "archive-MiB")
	}
	b.Run("list", func(b *testing.B) {
		measure(b, func() error {
			members, err := a.List()
			if err == nil && len(members) < 100 {
				err = fmt.Errorf("%d members", len(members))
			}
			return err
		})
	})
	b.Run("read-last-nested", func(b *testing.B) {
		measure(b, func() error {
			m, err := a.NodeManifest(healthtest.IDC)
			if err == nil && len(m.Entries) == 0 {
				err = errors.New("empty manifest")
			}
			return err
		})
	})
}

// samplePeakHeap records the largest live heap seen every millisecond.
func samplePeakHeap(peak *atomic.Uint64, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
