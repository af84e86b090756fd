package node

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nwroll/nwroll/health"
)

// Test blocks: 127.0.250.x–127.0.254.x are reserved for this package.
const (
	blockCluster = 250
	blockFaults  = 251
	blockUnit    = 252 // and 253
	blockDynamic = 254
)

// testCluster is a cluster laid out with WriteNodeTree and run in-process.
type testCluster struct {
	t      *testing.T
	keys   APIKeyset
	httpCA *CA
	client *http.Client // a new connection per request
	warm   *http.Client // keeps connections open, for timing-sensitive polls
	warmup time.Duration
	nodes  []*testNode
	admin  string // admin token
	reader string // token without roles
}

type testNode struct {
	name, ip, root, uuid, id string
	log                      *syncBuffer
	mu                       sync.Mutex
	cancel                   context.CancelFunc
	done                     chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestCluster lays out size nodes at 127.0.<block>.11.. (node 0 is the
// join seed). tune may adjust each node's sim settings.
func newTestCluster(t *testing.T, block, size int, warmup time.Duration, tune func(*SimSettings)) *testCluster {
	t.Helper()
	return newTestClusterSeeds(t, block, size, warmup, tune, func(int) int { return 0 })
}

// newTestClusterSeeds is newTestCluster where node i (> 0) joins through
// node seedOf(i).
func newTestClusterSeeds(t *testing.T, block, size int, warmup time.Duration, tune func(*SimSettings), seedOf func(i int) int) *testCluster {
	t.Helper()
	dir := t.TempDir()
	httpCA, err := NewCA("test http ca")
	must(t, err)
	clusterCA, err := NewCA("test cluster ca")
	must(t, err)
	keys, err := GenerateAPIKeyset()
	must(t, err)
	tokens, err := NewBootstrapTokens()
	must(t, err)

	c := &testCluster{t: t, keys: keys, httpCA: httpCA, warmup: warmup}
	var peers []Peer
	for i := 0; i < size; i++ {
		n := &testNode{
			name: fmt.Sprintf("fw-%c", 'a'+i),
			ip:   fmt.Sprintf("127.0.%d.%d", block, 11+i),
			uuid: uuid.NewString(),
			log:  &syncBuffer{},
		}
		n.root = filepath.Join(dir, "nodes", n.name)
		n.id, err = health.NodeIDFromUUID(n.uuid)
		must(t, err)
		p, err := NewPeer(n.name, n.ip, n.uuid)
		must(t, err)
		peers = append(peers, p)
		c.nodes = append(c.nodes, n)
	}
	for i, n := range c.nodes {
		sim := SimSettings{Cluster: "test", Name: n.name, Peers: peers}
		if tune != nil {
			tune(&sim)
		}
		spec := NodeSpec{Name: n.name, IP: n.ip, UUID: n.uuid, HTTPCA: httpCA, ClusterCA: clusterCA,
			Keyset: keys, Tokens: tokens, Sim: sim}
		if i > 0 {
			spec.JoinSeed = c.nodes[seedOf(i)].ip
		}
		must(t, WriteNodeTree(n.root, spec))
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(httpCA.CertPEM)
	c.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	c.warm = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c.admin, err = MintToken(keys, "tester", []string{"admin"}, time.Hour, time.Now())
	must(t, err)
	c.reader, err = MintToken(keys, "viewer", nil, time.Hour, time.Now())
	must(t, err)
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
		if t.Failed() || os.Getenv("NODE_TEST_LOGS") != "" {
			for _, n := range c.nodes {
				t.Logf("---- log of %s (%s, %s) ----\n%s", n.name, n.ip, n.id, n.log.String())
			}
		}
	})
	return c
}

// start runs node i in-process with the given fault.
func (c *testCluster) start(i int, fault Fault) {
	n := c.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		c.t.Fatalf("node %d already running", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	n.cancel, n.done = cancel, done
	fmt.Fprintf(n.log, "==== start (fault %s) ====\n", fault)
	go func() {
		done <- Run(ctx, n.root, RunOptions{Release: "test", Fault: fault, Log: n.log, Warmup: c.warmup})
	}()
}

// stop sends the SIGTERM equivalent and waits for a clean exit.
func (c *testCluster) stop(i int) { c.stopAsync(i)() }

// stopAsync cancels node i (SIGTERM) and returns a function that waits for
// its clean exit.
func (c *testCluster) stopAsync(i int) (wait func()) {
	n := c.nodes[i]
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.cancel, n.done = nil, nil
	n.mu.Unlock()
	if cancel == nil {
		return func() {}
	}
	cancel()
	return func() {
		select {
		case err := <-done:
			if err != nil {
				c.t.Errorf("node %s exited with error: %v", n.name, err)
			}
		case <-time.After(10 * time.Second):
			c.t.Errorf("node %s did not stop within 10s", n.name)
		}
	}
}

func (c *testCluster) url(i int, path string) string {
	return "https://" + c.nodes[i].ip + ":8443" + path
}

// do sends a request and returns status, headers and body (status 0 on a
// transport error).
func (c *testCluster) do(method string, i int, path, token string, hdr map[string]string) (int, http.Header, []byte) {
	req, err := http.NewRequest(method, c.url(i, path), nil)
	must(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func (c *testCluster) ready(i int) (int, health.ReadyResponse) {
	status, _, body := c.do(http.MethodGet, i, "/ready", "", nil)
	var r health.ReadyResponse
	if status != 0 {
		must(c.t, json.Unmarshal(body, &r))
	}
	return status, r
}

// readyWarm is ready over a kept-alive connection (no handshake per poll).
func (c *testCluster) readyWarm(i int) (int, health.ReadyResponse) {
	var r health.ReadyResponse
	resp, err := c.warm.Get(c.url(i, "/ready"))
	if err != nil {
		return 0, r
	}
	defer resp.Body.Close()
	must(c.t, json.NewDecoder(resp.Body).Decode(&r))
	return resp.StatusCode, r
}

func (c *testCluster) stats(i int) (int, health.Stats, []byte) {
	status, _, body := c.do(http.MethodGet, i, "/api/v1/stats", c.reader, nil)
	var s health.Stats
	if status == http.StatusOK {
		must(c.t, json.Unmarshal(body, &s))
	}
	return status, s, body
}

// metric returns a sample from node i's /metrics; series is the exact
// name{labels} text as exposed. ok is false if absent or unreachable.
func (c *testCluster) metric(i int, series string) (float64, bool) {
	resp, err := c.client.Get("http://" + c.nodes[i].ip + ":8080/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// leader returns the index of the running node whose raft_is_leader is 1.
func (c *testCluster) leader() int {
	for i := range c.nodes {
		if v, ok := c.metric(i, "raft_is_leader"); ok && v == 1 {
			return i
		}
	}
	return -1
}

func (c *testCluster) waitLeader(timeout time.Duration) int {
	c.t.Helper()
	l := -1
	waitFor(c.t, timeout, "a Raft leader", func() bool { l = c.leader(); return l >= 0 })
	return l
}

func (c *testCluster) waitReady(timeout time.Duration, idx ...int) {
	c.t.Helper()
	for _, i := range idx {
		waitFor(c.t, timeout, c.nodes[i].name+" /ready 200", func() bool {
			status, _ := c.ready(i)
			return status == http.StatusOK
		})
	}
}

func (c *testCluster) indexOf(id string) int {
	for i, n := range c.nodes {
		if n.id == id {
			return i
		}
	}
	return -1
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tarMember is one archive member.
type tarMember struct {
	name string
	mode int64
	data []byte
	gnu  bool
}

func readTarGz(t *testing.T, data []byte) []tarMember {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	must(t, err)
	tr := tar.NewReader(gz)
	var out []tarMember
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, tarMember{name: hdr.Name, mode: hdr.Mode, data: body, gnu: hdr.Format == tar.FormatGNU})
	}
}

func memberNames(ms []tarMember) []string {
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	return names
}

func findMember(ms []tarMember, name string) (tarMember, bool) {
	for _, m := range ms {
		if m.name == name {
			return m, true
		}
	}
	return tarMember{}, false
}

func u64(p *uint64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatUint(*p, 10)
}
