// Package api is the client of a Neuwerk node's HTTPS management API
// (pinned CA, bearer token) and its metrics listener: the typed calls,
// Refresh (one poll of every node into a health.ClusterSnapshot) and the
// sysdump downloads. Its errors are health.APIError and
// health.TransportError values, which the gates in health judge.
package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Default per-call timeouts, used when the matching Timeouts field is zero.
const (
	DefaultProbeTimeout   = 3 * time.Second  // GET /health, GET /ready
	DefaultAPITimeout     = 10 * time.Second // stats, members, whoami (leader-proxied)
	DefaultMetricsTimeout = 5 * time.Second  // GET /metrics on the metrics port
	DefaultSysdumpTimeout = 10 * time.Minute // POST /api/v1/support/sysdump/*
)

// Timeouts bounds each kind of call. A zero field takes its Default*.
// Every call is also bounded by the caller's context.
type Timeouts struct {
	Probe   time.Duration
	API     time.Duration
	Metrics time.Duration
	Sysdump time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Probe <= 0 {
		t.Probe = DefaultProbeTimeout
	}
	if t.API <= 0 {
		t.API = DefaultAPITimeout
	}
	if t.Metrics <= 0 {
		t.Metrics = DefaultMetricsTimeout
	}
	if t.Sysdump <= 0 {
		t.Sysdump = DefaultSysdumpTimeout
	}
	return t
}

// Token is a bearer token (a Neuwerk JWT). It formats as "<redacted>" with
// fmt, %v, %+v, %#v and JSON, so it cannot leak into logs or journals by
// accident; Reveal returns the raw value.
type Token string

const redacted = "<redacted>"

// String implements fmt.Stringer without revealing the token.
func (t Token) String() string {
	if t == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer without revealing the token.
func (t Token) GoString() string { return t.String() }

// MarshalText keeps the token out of JSON, YAML and text encodings.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Reveal returns the raw token, for the Authorization header only.
func (t Token) Reveal() string { return string(t) }

// secret holds the raw token inside a Client.
type secret struct{ value string }

// Config describes how to reach one Neuwerk node.
type Config struct {
	// Name is the node's inventory name (e.g. "fw-b"); it prefixes errors.
	Name string
	// NodeID is the node's decimal API node id, if known (facts §0.3).
	NodeID string
	// APIURL is the HTTPS API base URL, e.g. https://10.0.1.11:8443.
	APIURL string
	// MetricsURL is the plain-HTTP metrics base URL, e.g. http://10.0.1.11:8080.
	// Empty disables Metrics.
	MetricsURL string

	// CAPEM is the pinned HTTP CA in PEM form. CAFile is read when CAPEM
	// is empty. One of them is required unless InsecureSkipVerify is set.
	CAPEM  []byte
	CAFile string
	// ServerName overrides the name (an IP or DNS name) the node's
	// certificate is checked against, e.g. the management IP when the API
	// is reached through an SSH tunnel on 127.0.0.1.
	ServerName string
	// InsecureSkipVerify turns off certificate verification. Never set by
	// default; for explicit operator opt-in only.
	InsecureSkipVerify bool

	// Token is sent as "Authorization: Bearer <token>" on /api/v1 calls.
	Token Token

	// Timeouts per call kind; zero fields take the defaults.
	Timeouts Timeouts

	// DialContext, if set, dials every connection (e.g. through an SSH
	// client for tunnelling). Nil uses a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error) `json:"-"`
}

// Client talks to one Neuwerk node: its HTTPS API and its metrics listener.
// It is safe for concurrent use. The zero value is not usable; use NewClient.
type Client struct {
	name       string
	nodeID     string
	apiURL     *url.URL
	metricsURL *url.URL
	caSource   string  // where the pinned CA came from, for error messages
	token      *secret // a pointer, so even %+v of a Client prints no token
	timeouts   Timeouts
	api        *http.Client
	metrics    *http.Client
}

// NewClient checks cfg, loads the pinned CA and builds the node's client.
// Errors name the node and the field at fault.
func NewClient(cfg Config) (*Client, error) {
	label := cfg.Name
	if label == "" {
		label = cfg.APIURL
	}
	apiURL, err := parseBaseURL(cfg.APIURL, "https")
	if err != nil {
		return nil, fmt.Errorf("node %s: API URL: %w", label, err)
	}
	if cfg.Name == "" {
		label = apiURL.Host
	}
	var metricsURL *url.URL
	if cfg.MetricsURL != "" {
		if metricsURL, err = parseBaseURL(cfg.MetricsURL, "http"); err != nil {
			return nil, fmt.Errorf("node %s: metrics URL: %w", label, err)
		}
	}

	tlsConfig := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // explicit opt-in only
	}
	caSource := ""
	switch {
	case len(cfg.CAPEM) > 0:
		caSource = "the pinned CA (PEM given inline)"
		if tlsConfig.RootCAs, err = certPool(cfg.CAPEM); err != nil {
			return nil, fmt.Errorf("node %s: %s: %w", label, caSource, err)
		}
	case cfg.CAFile != "":
		caSource = cfg.CAFile
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("node %s: read CA file: %w; fetch <data_root>/http-tls/ca.crt from a node", label, err)
		}
		if tlsConfig.RootCAs, err = certPool(pem); err != nil {
			return nil, fmt.Errorf("node %s: CA file %s: %w", label, cfg.CAFile, err)
		}
	case cfg.InsecureSkipVerify:
		caSource = "no CA (verification disabled)"
	default:
		return nil, fmt.Errorf("node %s: no CA to pin: set the CA file (<data_root>/http-tls/ca.crt) or PEM", label)
	}

	dial := cfg.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	newTransport := func(tc *tls.Config) *http.Transport {
		return &http.Transport{
			Proxy:                 nil, // nodes are reached directly, never via HTTP(S)_PROXY
			DialContext:           dial,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 0, // bounded by the per-call context instead
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	return &Client{
		name:       label,
		nodeID:     cfg.NodeID,
		apiURL:     apiURL,
		metricsURL: metricsURL,
		caSource:   caSource,
		token:      &secret{value: cfg.Token.Reveal()},
		timeouts:   cfg.Timeouts.withDefaults(),
		api:        &http.Client{Transport: newTransport(tlsConfig), CheckRedirect: noRedirects},
		metrics:    &http.Client{Transport: newTransport(nil), CheckRedirect: noRedirects},
	}, nil
}

// Name is the node's inventory name (or its API host when none was given).
func (c *Client) Name() string { return c.name }

// NodeID is the decimal node id from Config, possibly empty.
func (c *Client) NodeID() string { return c.nodeID }

// APIURL is the node's API base URL.
func (c *Client) APIURL() string { return c.apiURL.String() }

// MetricsURL is the node's metrics base URL, or "" when not configured.
func (c *Client) MetricsURL() string {
	if c.metricsURL == nil {
		return ""
	}
	return c.metricsURL.String()
}

// Timeouts returns the effective per-call timeouts.
func (c *Client) Timeouts() Timeouts { return c.timeouts }

// CloseIdleConnections releases pooled connections.
func (c *Client) CloseIdleConnections() {
	c.api.CloseIdleConnections()
	c.metrics.CloseIdleConnections()
}

// String describes the client without the token.
func (c *Client) String() string { return fmt.Sprintf("%s (%s)", c.name, c.apiURL) }

func parseBaseURL(raw, wantScheme string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Scheme != wantScheme {
		return nil, fmt.Errorf("%q must start with %s://", raw, wantScheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s://%s: credentials in the URL are not allowed; use the token", u.Scheme, u.Host)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func certPool(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no PEM certificate found; expected the contents of <data_root>/http-tls/ca.crt")
	}
	return pool, nil
}
