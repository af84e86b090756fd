package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nwroll/nwroll/health"
)

const maxBodyBytes = 2 << 20 // MAX_BODY_BYTES

// route is one API endpoint.
type route struct {
	method  string
	auth    bool // needs a token (GET: any valid, POST: admin)
	leader  bool // proxied to the leader unless this node leads
	handler http.HandlerFunc
}

func (n *node) routes() map[string]route {
	return map[string]route{
		"/health":                         {method: http.MethodGet, handler: n.handleHealth},
		"/ready":                          {method: http.MethodGet, handler: n.handleReady},
		"/api/v1/stats":                   {method: http.MethodGet, auth: true, leader: true, handler: n.handleStats},
		"/api/v1/cluster/members":         {method: http.MethodGet, auth: true, leader: true, handler: n.handleMembers},
		removeMemberPath:                  {method: http.MethodPost, auth: true, leader: true, handler: n.handleRemoveMember},
		"/api/v1/auth/whoami":             {method: http.MethodGet, auth: true, handler: n.handleWhoAmI},
		"/api/v1/support/sysdump/cluster": {method: http.MethodPost, auth: true, leader: true, handler: n.handleClusterSysdump},
		"/api/v1/support/sysdump/node":    {method: http.MethodPost, auth: true, handler: n.handleNodeSysdump},
	}
}

// apiHandler dispatches requests: security headers, request metrics, auth,
// leader proxying, then the handler. Unknown paths get the UI fallback's
// bare 404 and wrong methods a bare 405 (facts §11).
func (n *node) apiHandler() http.Handler {
	routes := n.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		setSecurityHeaders(sw.Header(), r.URL.Path)
		label, rt, ok := matchRoute(routes, r.URL.Path)
		defer func() {
			status := strconv.Itoa(sw.status)
			n.metrics.requests.WithLabelValues(label, r.Method, status).Inc()
			n.metrics.requestTime.WithLabelValues(label, r.Method, status).Observe(time.Since(start).Seconds())
		}()
		switch {
		case !ok:
			sw.WriteHeader(http.StatusNotFound)
			return
		case r.Method != rt.method:
			sw.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(sw, r.Body, maxBodyBytes)
		if rt.auth {
			claims := n.authorize(sw, r)
			if claims == nil {
				return
			}
			r = r.WithContext(withClaims(r.Context(), claims))
		}
		if rt.leader && !n.isLeader() {
			n.proxyToLeader(sw, r)
			return
		}
		rt.handler(sw, r)
	})
}

// matchRoute finds path's route and its metrics label: an exact path, or
// the member removal pattern.
func matchRoute(routes map[string]route, path string) (string, route, bool) {
	if _, ok := memberIDFromRemovePath(path); ok {
		return removeMemberPath, routes[removeMemberPath], true
	}
	if rt, ok := routes[path]; ok && !strings.Contains(path, "{") {
		return path, rt, true
	}
	return "unmatched", route{}, false
}

func setSecurityHeaders(h http.Header, path string) {
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'")
	if strings.HasPrefix(path, "/api/v1/auth/") {
		h.Set("Cache-Control", "no-store")
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, health.ErrorBody{Error: msg})
}

func (n *node) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, health.HealthResponse{Status: "ok"})
}

func (n *node) handleReady(w http.ResponseWriter, _ *http.Request) {
	resp := n.readiness()
	status := http.StatusOK
	if !resp.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, resp)
}

func (n *node) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	c := claimsFrom(r.Context())
	resp := health.WhoAmI{Sub: c.Subject, SAID: c.SAID, Roles: c.Roles}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if c.ExpiresAt != nil {
		exp := c.ExpiresAt.Unix()
		resp.Exp = &exp
	}
	writeJSON(w, http.StatusOK, resp)
}

// serveAPI starts the HTTPS listener on http.bind (TLS 1.2+).
func (n *node) serveAPI(fatal chan<- error) (*http.Server, error) {
	cert, pool, err := loadTLSDir(n.cfg.HTTP.TLSDir)
	if err != nil {
		return nil, err
	}
	n.proxyClient = newPeerClient(pool, 3*time.Second, 0, true)
	n.fanoutClient = newPeerClient(pool, 2*time.Second, 5*time.Minute, false)
	ln, err := net.Listen("tcp", n.cfg.HTTP.Bind)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           n.apiHandler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          n.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fatal <- err
		}
	}()
	return srv, nil
}

// serveMetrics starts the plain-HTTP metrics listener on metrics.bind.
func (n *node) serveMetrics(fatal chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", n.cfg.Metrics.Bind)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           n.metrics.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          n.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fatal <- err
		}
	}()
	return srv, nil
}

// newPeerClient makes an HTTPS client that trusts only the HTTP CA.
func newPeerClient(pool *x509.CertPool, connect, total time.Duration, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: total,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DialContext:         (&net.Dialer{Timeout: connect}).DialContext,
			TLSHandshakeTimeout: connect,
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}
