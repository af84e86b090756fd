package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/internal/healthtest"
)

const testToken = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZXN0In0.c2VjcmV0LXNpZ25hdHVyZQ"

// testCA is a CA generated per test, like Neuwerk's rcgen HTTP CA.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pem     []byte
	pemPath string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "neuwerk test http ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.pemPath = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca.pemPath, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

// leaf issues a node certificate with IP SANs only, as Neuwerk does.
func (ca *testCA) leaf(t testing.TB, ips ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "neuwerk node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

// startTLS serves h over HTTPS with a leaf of ca for the given IP SANs.
func startTLS(t testing.TB, ca *testCA, h http.Handler, sans ...string) *httptest.Server {
	t.Helper()
	if len(sans) == 0 {
		sans = []string{"127.0.0.1"}
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected in TLS tests
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, sans...)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// fakeNode serves Neuwerk's API from fixture bytes. Zero status fields
// mean 200. It checks the bearer token on /api/v1 paths like Neuwerk.
type fakeNode struct {
	ready         []byte
	readyStatus   int
	stats         []byte
	statsStatus   int
	members       []byte
	membersStatus int
	metrics       []byte
	token         string
	healthDelay   time.Duration // slows /health, to order Refresh's fall-over
}

func newFakeNode(t testing.TB) *fakeNode {
	return &fakeNode{
		ready:   healthtest.Fixture(t, "ready_200.json"),
		stats:   healthtest.Fixture(t, "stats_leader.json"),
		members: healthtest.Fixture(t, "members.json"),
		metrics: healthtest.Fixture(t, "metrics_follower.prom"),
		token:   testToken,
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (f *fakeNode) authOK(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSON(w, http.StatusUnauthorized, []byte(`{"error":"invalid bearer token"}`))
		return false
	}
	return true
}

func (f *fakeNode) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(f.healthDelay)
		writeJSON(w, 200, []byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, f.readyStatus, f.ready)
	})
	mux.HandleFunc("GET /api/v1/stats", func(w http.ResponseWriter, r *http.Request) {
		if f.authOK(w, r) {
			writeJSON(w, f.statsStatus, f.stats)
		}
	})
	mux.HandleFunc("GET /api/v1/cluster/members", func(w http.ResponseWriter, r *http.Request) {
		if f.authOK(w, r) {
			writeJSON(w, f.membersStatus, f.members)
		}
	})
	mux.HandleFunc("GET /api/v1/auth/whoami", func(w http.ResponseWriter, r *http.Request) {
		if f.authOK(w, r) {
			writeJSON(w, 200, []byte(`{"sub":"nwroll","sa_id":null,"exp":1775304834,"roles":["admin"]}`))
		}
	})
	return mux
}

func (f *fakeNode) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(f.metrics)
	})
}

// start serves f over HTTPS (API) and HTTP (metrics) and returns a client.
func (f *fakeNode) start(t testing.TB, ca *testCA, name, nodeID string, timeouts Timeouts) *Client {
	t.Helper()
	api := startTLS(t, ca, f.apiHandler())
	metrics := httptest.NewServer(f.metricsHandler())
	t.Cleanup(metrics.Close)
	c, err := NewClient(Config{
		Name: name, NodeID: nodeID, APIURL: api.URL, MetricsURL: metrics.URL,
		CAFile: ca.pemPath, Token: Token(testToken), Timeouts: timeouts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// The Refresh tests judge what they polled, with these helpers of
// health's gate tests.

func checkVerdict(t *testing.T, v health.Verdict, wantOK bool, wantReasons []string) {
	t.Helper()
	healthtest.CheckVerdict(t, v.OK, v.Reasons, wantOK, wantReasons)
}

// judgeAll runs checks once on snap, as one verdict: OK when all are, with
// every reason.
func judgeAll(name string, checks []health.Check, snap health.ClusterSnapshot) health.Verdict {
	out := health.Verdict{Gate: name, OK: true}
	for _, c := range checks {
		if _, v := c.Judge(health.Sample{Snap: snap}); !v.OK {
			out.OK = false
			out.Reasons = append(out.Reasons, v.Reasons...)
		}
	}
	return out
}

func refsABC() []health.NodeRef {
	return []health.NodeRef{{Name: "fw-a", ID: healthtest.IDA}, {Name: "fw-b", ID: healthtest.IDB}, {Name: "fw-c", ID: healthtest.IDC}}
}
