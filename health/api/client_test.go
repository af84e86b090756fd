package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/internal/healthtest"
)

func TestClientTypedCalls(t *testing.T) {
	ca := newTestCA(t)
	node := newFakeNode(t)
	node.metrics = healthtest.Fixture(t, "metrics_leader.prom")
	c := node.start(t, ca, "fw-b", healthtest.IDB, Timeouts{})
	ctx := context.Background()

	h, err := c.Health(ctx)
	if err != nil || h.Status != "ok" {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	r, err := c.Ready(ctx)
	if err != nil || !r.Ready || len(r.Checks) != 8 {
		t.Fatalf("Ready = %+v, %v", r, err)
	}
	s, err := c.Stats(ctx)
	if err != nil || s.Cluster.LastLogIndex != 1544 || len(s.Cluster.Nodes) != 3 {
		t.Fatalf("Stats = %+v, %v", s.Cluster, err)
	}
	m, err := c.Members(ctx)
	if err != nil || len(m.Members) != 3 {
		t.Fatalf("Members = %+v, %v", m, err)
	}
	w, err := c.WhoAmI(ctx)
	if err != nil || w.Sub != "nwroll" || len(w.Roles) != 1 || w.Roles[0] != "admin" || w.Exp == nil || *w.Exp != 1775304834 {
		t.Fatalf("WhoAmI = %+v, %v", w, err)
	}
	met, err := c.Metrics(ctx)
	if err != nil || !met.IsLeader || met.PeerErrors(healthtest.IDC) != 16 {
		t.Fatalf("Metrics = %+v, %v", met, err)
	}
}

func TestClientReady503IsAnAnswer(t *testing.T) {
	ca := newTestCA(t)
	node := newFakeNode(t)
	node.ready, node.readyStatus = healthtest.Fixture(t, "ready_503_restarted.json"), http.StatusServiceUnavailable
	c := node.start(t, ca, "fw-c", healthtest.IDC, Timeouts{})

	r, err := c.Ready(context.Background())
	if err != nil {
		t.Fatalf("503 /ready should parse, got %v", err)
	}
	if r.Ready || r.Checks[1].OK || r.Checks[7].OK || !r.Checks[0].OK {
		t.Errorf("ready = %+v", r)
	}
}

func TestClientReadyBare500IsError(t *testing.T) {
	ca := newTestCA(t)
	node := newFakeNode(t)
	node.ready, node.readyStatus = nil, http.StatusInternalServerError
	c := node.start(t, ca, "fw-c", healthtest.IDC, Timeouts{})

	_, err := c.Ready(context.Background())
	var api *health.APIError
	if !errors.As(err, &api) || api.Status != 500 || api.Path != "/ready" || api.Node != "fw-c" {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "fw-c (https://127.0.0.1:") || !strings.Contains(err.Error(), "GET /ready: 500 Internal Server Error") {
		t.Errorf("message = %q", err)
	}
}

func TestClientLeaderErrorsAreDistinct(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name                  string
		status                int
		body                  string
		unknown, proxy, trans bool
	}{
		{"503 leader unknown", 503, string(healthtest.Fixture(t, "error_503_leader_unknown.json")), true, false, true},
		{"502 proxy failed", 502, string(healthtest.Fixture(t, "error_502_proxy.json")), false, true, true},
		{"503 other", 503, `{"error":"cluster sysdump requires cluster mode"}`, false, false, false},
		{"502 sysdump everyone failed", 502, `{"error":"cluster sysdump failed on every node"}`, false, false, false},
		{"500", 500, `{"error":"proxy client missing"}`, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := newFakeNode(t)
			node.stats, node.statsStatus = []byte(tt.body), tt.status
			c := node.start(t, ca, "fw-a", healthtest.IDA, Timeouts{})
			_, err := c.Stats(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if health.IsLeaderUnknown(err) != tt.unknown || health.IsLeaderProxyFailed(err) != tt.proxy || health.IsLeaderTransition(err) != tt.trans {
				t.Errorf("unknown=%v proxy=%v transition=%v for %v", health.IsLeaderUnknown(err), health.IsLeaderProxyFailed(err), health.IsLeaderTransition(err), err)
			}
			if health.IsUnreachable(err) || health.IsNodeDown(err) || health.IsUnauthorized(err) {
				t.Errorf("an HTTP answer must not count as unreachable/unauthorized: %v", err)
			}
			var api *health.APIError
			if !errors.As(err, &api) || api.Status != tt.status || api.Path != health.PathStats {
				t.Errorf("APIError = %+v", api)
			}
			var body health.ErrorBody
			_ = json.Unmarshal([]byte(tt.body), &body)
			if api.Message != body.Error {
				t.Errorf("message = %q, want %q", api.Message, body.Error)
			}
		})
	}
}

func TestClientAuthErrors(t *testing.T) {
	ca := newTestCA(t)
	node := newFakeNode(t)
	c := node.start(t, ca, "fw-a", healthtest.IDA, Timeouts{})

	node.token = "a-different-token"
	_, err := c.Stats(context.Background())
	if !health.IsUnauthorized(err) || health.IsForbidden(err) || health.IsLeaderTransition(err) {
		t.Errorf("401: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid bearer token") || !strings.Contains(err.Error(), "mint") {
		t.Errorf("401 message lacks cause or fix: %q", err)
	}

	node.token = testToken
	node.members, node.membersStatus = []byte(`{"error":"admin role required"}`), 403
	_, err = c.Members(context.Background())
	if !health.IsForbidden(err) || health.IsUnauthorized(err) || !strings.Contains(err.Error(), "--roles admin") {
		t.Errorf("403: %v", err)
	}
}

func TestClientSendsBearerOnlyToAPI(t *testing.T) {
	ca := newTestCA(t)
	var healthAuth, statsAuth string
	api := startTLS(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			healthAuth = r.Header.Get("Authorization")
			writeJSON(w, 200, []byte(`{"status":"ok"}`))
		case "/api/v1/stats":
			statsAuth = r.Header.Get("Authorization")
			writeJSON(w, 200, healthtest.Fixture(t, "stats_leader.json"))
		}
	}))
	c, err := NewClient(Config{Name: "fw-a", APIURL: api.URL + "/", CAPEM: ca.pem, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stats(context.Background()); err != nil {
		t.Fatal(err)
	}
	if healthAuth != "" {
		t.Errorf("/health got Authorization %q; unauthenticated endpoints get no token", healthAuth)
	}
	if statsAuth != "Bearer "+testToken {
		t.Errorf("/api/v1/stats Authorization = %q", statsAuth)
	}
}

func TestClientTimeoutIsAKind(t *testing.T) {
	ca := newTestCA(t)
	release := make(chan struct{})
	api := startTLS(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	c, err := NewClient(Config{Name: "fw-slow", APIURL: api.URL, CAFile: ca.pemPath, Timeouts: Timeouts{Probe: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ready(context.Background())
	if !health.IsTimeout(err) || !health.IsUnreachable(err) || !health.IsNodeDown(err) || errors.Is(err, health.ErrConnRefused) || health.IsTLS(err) {
		t.Fatalf("err = %v; want a timeout transport error", err)
	}
	var te *health.TransportError
	if !errors.As(err, &te) || te.Kind != health.KindTimeout || te.Path != "/ready" || te.Node != "fw-slow" {
		t.Errorf("TransportError = %+v", te)
	}
	if !strings.Contains(err.Error(), "per-call timeout") {
		t.Errorf("message = %q", err)
	}
}

func TestClientCallerCancelIsNotATimeout(t *testing.T) {
	ca := newTestCA(t)
	api := startTLS(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	c, err := NewClient(Config{Name: "fw-a", APIURL: api.URL, CAFile: ca.pemPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = c.Health(ctx)
	var te *health.TransportError
	if !errors.As(err, &te) || te.Kind != health.KindCanceled || !errors.Is(err, context.Canceled) || health.IsTimeout(err) {
		t.Fatalf("err = %v (%+v)", err, te)
	}
}

func TestClientConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens now: a node that is down or still starting
	ca := newTestCA(t)
	c, err := NewClient(Config{Name: "fw-a", APIURL: "https://" + addr, MetricsURL: "http://" + addr, CAFile: ca.pemPath})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(context.Background())
	if !errors.Is(err, health.ErrConnRefused) || !health.IsUnreachable(err) || !health.IsNodeDown(err) || health.IsTimeout(err) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "still starting") {
		t.Errorf("message = %q", err)
	}
	if _, err := c.Metrics(context.Background()); !errors.Is(err, health.ErrConnRefused) {
		t.Errorf("metrics err = %v", err)
	}
}

func TestClientBadCA(t *testing.T) {
	serverCA, otherCA := newTestCA(t), newTestCA(t)
	node := newFakeNode(t)
	api := startTLS(t, serverCA, node.apiHandler())
	c, err := NewClient(Config{Name: "fw-a", APIURL: api.URL, CAFile: otherCA.pemPath, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Stats(context.Background())
	if !health.IsTLS(err) || !health.IsUnreachable(err) || health.IsNodeDown(err) || health.IsTimeout(err) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"fw-a", api.URL, "certificate signed by unknown authority", "the CA in " + otherCA.pemPath, "http-tls/ca.crt again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, testToken) {
		t.Error("token leaked into the error")
	}

	// Opting out of verification explicitly works with the wrong CA.
	insecure, err := NewClient(Config{Name: "fw-a", APIURL: api.URL, InsecureSkipVerify: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := insecure.Stats(context.Background()); err != nil {
		t.Errorf("InsecureSkipVerify: %v", err)
	}
}

func TestClientServerNameOverride(t *testing.T) {
	ca := newTestCA(t)
	node := newFakeNode(t)
	// The certificate names only the management IP, as over an SSH tunnel.
	api := startTLS(t, ca, node.apiHandler(), "10.0.1.11")

	direct, err := NewClient(Config{Name: "fw-a", APIURL: api.URL, CAFile: ca.pemPath})
	if err != nil {
		t.Fatal(err)
	}
	_, err = direct.Health(context.Background())
	if !health.IsTLS(err) || !strings.Contains(err.Error(), "10.0.1.11") || !strings.Contains(err.Error(), "server name") {
		t.Errorf("SAN mismatch err = %v", err)
	}

	tunnelled, err := NewClient(Config{Name: "fw-a", APIURL: api.URL, CAFile: ca.pemPath, ServerName: "10.0.1.11"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tunnelled.Health(context.Background()); err != nil {
		t.Errorf("with ServerName override: %v", err)
	}
}

func TestClientPlainHTTPOnAPIPort(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	ca := newTestCA(t)
	c, err := NewClient(Config{Name: "fw-a", APIURL: strings.Replace(plain.URL, "http://", "https://", 1), CAFile: ca.pemPath})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(context.Background())
	if !health.IsTLS(err) || !strings.Contains(err.Error(), "plain HTTP, not HTTPS") {
		t.Errorf("err = %v", err)
	}
}

func TestClientBadAnswer(t *testing.T) {
	ca := newTestCA(t)
	node := newFakeNode(t)
	node.stats = []byte(`<html>proxy says hi</html>`)
	c := node.start(t, ca, "fw-a", healthtest.IDA, Timeouts{})
	_, err := c.Stats(context.Background())
	if !errors.Is(err, health.ErrBadResponse) || health.IsUnreachable(err) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "fw-a") || !strings.Contains(err.Error(), "unexpected answer") {
		t.Errorf("message = %q", err)
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	cfg := Config{Name: "fw-a", APIURL: "https://10.0.1.11:8443", Token: testToken}
	for _, s := range []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.Token),
	} {
		if strings.Contains(s, testToken) {
			t.Errorf("token printed: %s", s)
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil || strings.Contains(string(b), testToken) || !strings.Contains(string(b), "redacted") {
		t.Errorf("JSON = %s, %v", b, err)
	}
	if cfg.Token.Reveal() != testToken {
		t.Error("Reveal lost the token")
	}

	// A server that echoes the Authorization header back in its error body.
	ca := newTestCA(t)
	api := startTLS(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, []byte(fmt.Sprintf(`{"error":"bad token %s"}`, r.Header.Get("Authorization"))))
	}))
	c, err := NewClient(Config{Name: "fw-a", APIURL: api.URL, CAFile: ca.pemPath, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Stats(context.Background())
	if err == nil || strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), redacted) {
		t.Errorf("err = %v", err)
	}
	if s := fmt.Sprintf("%v %+v", c, *c); strings.Contains(s, testToken) {
		t.Errorf("client printed the token: %s", s)
	}
}

func TestNewClientConfigErrors(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no CA", Config{Name: "fw-a", APIURL: "https://10.0.1.11:8443"}, "no CA to pin"},
		{"http API", Config{Name: "fw-a", APIURL: "http://10.0.1.11:8443", CAPEM: ca.pem}, "must start with https://"},
		{"https metrics", Config{Name: "fw-a", APIURL: "https://10.0.1.11:8443", MetricsURL: "https://10.0.1.11:8080", CAPEM: ca.pem}, "metrics URL"},
		{"no host", Config{Name: "fw-a", APIURL: "https://", CAPEM: ca.pem}, "has no host"},
		{"userinfo", Config{Name: "fw-a", APIURL: "https://u:secret@10.0.1.11:8443", CAPEM: ca.pem}, "credentials in the URL"},
		{"bad PEM", Config{Name: "fw-a", APIURL: "https://10.0.1.11:8443", CAPEM: []byte("nope")}, "no PEM certificate"},
		{"missing CA file", Config{Name: "fw-a", APIURL: "https://10.0.1.11:8443", CAFile: "/nonexistent/ca.crt"}, "/nonexistent/ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "fw-a") {
				t.Errorf("err = %v, want it to name fw-a and mention %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("URL password leaked: %v", err)
			}
		})
	}
}

// An empty or foreign /metrics page answered with 200 is a bad answer, not
// a sample of zeros: otherwise "peer errors steady" would pass on two
// empty scrapes.
func TestClientMetricsWithoutRaftGaugesIsBadAnswer(t *testing.T) {
	ca := newTestCA(t)
	for name, body := range map[string]string{
		"empty":   "",
		"foreign": "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 12\n",
		"partial": "# TYPE raft_is_leader gauge\nraft_is_leader 0\n# TYPE raft_current_term gauge\nraft_current_term 3\n",
	} {
		t.Run(name, func(t *testing.T) {
			node := newFakeNode(t)
			node.metrics = []byte(body)
			c := node.start(t, ca, "fw-a", healthtest.IDA, Timeouts{})
			m, err := c.Metrics(context.Background())
			if m != nil || !errors.Is(err, health.ErrBadResponse) {
				t.Fatalf("metrics = %v, err = %v; want a bad answer", m, err)
			}
			if !strings.Contains(err.Error(), "raft_last_applied") {
				t.Errorf("message %q does not name the missing gauge", err)
			}
			snap := Refresh(context.Background(), []*Client{c})
			if v := health.PeerErrorsSteady("fw-a", healthtest.IDA, snap.Nodes[0].Metrics, snap.Nodes[0].Metrics); v.OK {
				t.Errorf("peer errors steady passed on a page without raft gauges: %v", v)
			}
		})
	}
}
