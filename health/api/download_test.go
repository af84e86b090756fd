package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/internal/healthtest"
	"github.com/nwroll/nwroll/health/sysdump"
)

// sysdumpServer serves both sysdump endpoints like Neuwerk: admin POSTs,
// the fan-out header on /node, a Content-Disposition on /cluster only.
func sysdumpServer(t *testing.T, ca *testCA, archive []byte) string {
	t.Helper()
	mux := http.NewServeMux()
	stream := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
		for off := 0; off < len(archive); off += 4096 {
			_, _ = w.Write(archive[off:min(off+4096, len(archive))])
			w.(http.Flusher).Flush()
		}
	}
	mux.HandleFunc("POST /api/v1/support/sysdump/cluster", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeJSON(w, 401, []byte(`{"error":"invalid bearer token"}`))
			return
		}
		w.Header().Set("Content-Disposition", `attachment; filename="neuwerk-cluster-sysdump-20260404T101530Z.tar.gz"`)
		stream(w)
	})
	mux.HandleFunc("POST /api/v1/support/sysdump/node", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(health.SysdumpFanoutHeader) != "1" {
			writeJSON(w, 403, []byte(`{"error":"cluster sysdump fanout header required"}`))
			return
		}
		stream(w)
	})
	return startTLS(t, ca, mux).URL
}

func TestClusterSysdumpDownload(t *testing.T) {
	ca := newTestCA(t)
	archive := healthtest.ClusterSysdump(t)
	url := sysdumpServer(t, ca, archive)
	c, err := NewClient(Config{Name: "fw-a", APIURL: url, CAFile: ca.pemPath, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var progress []int64
	res, err := c.ClusterSysdump(context.Background(), SysdumpOptions{Dir: dir, Progress: func(n int64) { progress = append(progress, n) }})
	if err != nil {
		t.Fatal(err)
	}
	wantName := "neuwerk-cluster-sysdump-20260404T101530Z.tar.gz"
	if res.ServerFilename != wantName || res.Path != filepath.Join(dir, wantName) {
		t.Errorf("result = %+v", res)
	}
	sum := sha256.Sum256(archive)
	if res.Bytes != int64(len(archive)) || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("bytes %d sha %s, want %d %x", res.Bytes, res.SHA256, len(archive), sum)
	}
	st, err := os.Stat(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	got, _ := os.ReadFile(res.Path)
	if string(got) != string(archive) {
		t.Error("file content differs from what was served")
	}
	if len(progress) < 2 || progress[len(progress)-1] != int64(len(archive)) {
		t.Errorf("progress = %d calls ending at %v", len(progress), progress[len(progress)-1:])
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Fatalf("progress not increasing at %d: %d then %d", i, progress[i-1], progress[i])
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only the archive (no temp files)", len(entries))
	}
	// What was downloaded is a readable sysdump.
	a := &sysdump.Archive{Path: res.Path}
	if m, err := a.Manifest(); err != nil || m.NodesSucceeded != 2 {
		t.Errorf("manifest = %+v, %v", m, err)
	}
}

func TestNodeSysdumpSendsFanoutHeader(t *testing.T) {
	ca := newTestCA(t)
	archive := healthtest.TarGz(t, healthtest.NodeArchiveFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", nil))
	url := sysdumpServer(t, ca, archive)
	c, err := NewClient(Config{Name: "fw-a", APIURL: url, CAFile: ca.pemPath, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := c.NodeSysdump(context.Background(), SysdumpOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(res.Path)
	if res.ServerFilename != "" || !strings.HasPrefix(base, "neuwerk-node-sysdump-fw-a-") || !strings.HasSuffix(base, ".tar.gz") {
		t.Errorf("result = %+v", res)
	}
	m, err := (&sysdump.Archive{Path: res.Path}).NodeManifest("")
	if err != nil || len(m.Entries) != 5 || m.Entries[1].Status != "missing" {
		t.Errorf("node manifest = %+v, %v", m, err)
	}

	// An exact destination path wins over the directory.
	exact := filepath.Join(dir, "before-fw-a.tar.gz")
	res, err = c.NodeSysdump(context.Background(), SysdumpOptions{Path: exact})
	if err != nil || res.Path != exact {
		t.Errorf("exact path: %+v, %v", res, err)
	}
}

func TestSysdumpErrorsLeaveNoFile(t *testing.T) {
	ca := newTestCA(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/support/sysdump/cluster", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 502, []byte(`{"error":"cluster sysdump failed on every node"}`))
	})
	mux.HandleFunc("POST /api/v1/support/sysdump/node", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		_, _ = w.Write(make([]byte, 1000)) // then the connection drops
	})
	url := startTLS(t, ca, mux).URL
	c, err := NewClient(Config{Name: "fw-b", APIURL: url, CAFile: ca.pemPath, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	_, err = c.ClusterSysdump(context.Background(), SysdumpOptions{Dir: dir})
	if err == nil || health.IsLeaderProxyFailed(err) || !strings.Contains(err.Error(), "failed on every node") {
		t.Errorf("502 all failed: %v", err)
	}
	_, err = c.NodeSysdump(context.Background(), SysdumpOptions{Dir: dir})
	if !errors.Is(err, health.ErrBadResponse) || !strings.Contains(err.Error(), "fw-b") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated download: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed downloads left %d files behind", len(entries))
	}
}

func TestContentDispositionFilename(t *testing.T) {
	tests := map[string]string{
		`attachment; filename="neuwerk-cluster-sysdump-20260404T101530Z.tar.gz"`: "neuwerk-cluster-sysdump-20260404T101530Z.tar.gz",
		`attachment; filename="../../etc/passwd"`:                                "",
		`attachment; filename="/tmp/x.tar.gz"`:                                   "",
		`attachment; filename=".hidden"`:                                         "",
		`attachment`:                                                             "",
		``:                                                                       "",
		`garbage; ;`:                                                             "",
	}
	for in, want := range tests {
		if got := contentDispositionFilename(in); got != want {
			t.Errorf("contentDispositionFilename(%q) = %q, want %q", in, got, want)
		}
	}
}
