package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nwroll/nwroll/health"
)

// Body size caps: a node never sends more than this for a JSON or metrics
// answer; anything larger is a bad answer rather than a memory problem.
const (
	maxJSONBody    = 16 << 20
	maxMetricsBody = 64 << 20
	maxErrorBody   = 64 << 10
)

// Health calls GET /health (no auth, local to the node).
func (c *Client) Health(ctx context.Context) (health.HealthResponse, error) {
	var out health.HealthResponse
	err := c.getJSON(ctx, health.PathHealth, c.timeouts.Probe, false, []int{http.StatusOK}, func(b []byte) error {
		var err error
		out, err = health.DecodeHealth(b)
		return err
	})
	return out, err
}

// Ready calls GET /ready (no auth, local to the node). Both 200 and 503
// carry a ReadyResponse and return a nil error; use ReadyResponse.Ready and
// its checks. A bare 500 (serialisation failure) is an *APIError.
func (c *Client) Ready(ctx context.Context) (health.ReadyResponse, error) {
	var out health.ReadyResponse
	err := c.getJSON(ctx, health.PathReady, c.timeouts.Probe, false, []int{http.StatusOK, http.StatusServiceUnavailable}, func(b []byte) error {
		var err error
		out, err = health.DecodeReady(b)
		return err
	})
	return out, err
}

// Stats calls GET /api/v1/stats. It is leader-proxied: the answer is always
// the leader's view (facts §0.1). Expect IsLeaderProxyFailed and
// IsLeaderUnknown errors during a leader restart.
func (c *Client) Stats(ctx context.Context) (health.Stats, error) {
	var out health.Stats
	err := c.getJSON(ctx, health.PathStats, c.timeouts.API, true, []int{http.StatusOK}, func(b []byte) error {
		var err error
		out, err = health.DecodeStats(b)
		return err
	})
	return out, err
}

// Members calls GET /api/v1/cluster/members (leader-proxied).
func (c *Client) Members(ctx context.Context) (health.MembersResponse, error) {
	var out health.MembersResponse
	err := c.getJSON(ctx, health.PathMembers, c.timeouts.API, true, []int{http.StatusOK}, func(b []byte) error {
		var err error
		out, err = health.DecodeMembers(b)
		return err
	})
	return out, err
}

// WhoAmI calls GET /api/v1/auth/whoami (local, needs a valid token): a cheap
// way to check the token before a rollout.
func (c *Client) WhoAmI(ctx context.Context) (health.WhoAmI, error) {
	var out health.WhoAmI
	err := c.getJSON(ctx, health.PathWhoAmI, c.timeouts.API, true, []int{http.StatusOK}, func(b []byte) error {
		return health.DecodeStrict(b, &out, "sub")
	})
	return out, err
}

// Metrics calls GET /metrics on the node's plain-HTTP metrics listener (no
// auth) and parses the Prometheus text format.
func (c *Client) Metrics(parent context.Context) (*health.Metrics, error) {
	if c.metricsURL == nil {
		return nil, fmt.Errorf("%s: no metrics URL configured", c.name)
	}
	base := c.metricsURL.String()
	ctx, cancel := context.WithTimeout(parent, c.timeouts.Metrics)
	defer cancel()
	resp, err := c.do(parent, ctx, c.metrics, http.MethodGet, base, health.PathMetrics, false, nil)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, c.apiError(resp, http.MethodGet, base, health.PathMetrics)
	}
	m, err := health.ParseMetrics(io.LimitReader(resp.Body, maxMetricsBody))
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.transportError(parent, ctx, http.MethodGet, health.PathMetrics, base, err)
		}
		return nil, c.badAnswer(http.MethodGet, health.PathMetrics, base, err)
	}
	if missing := m.MissingCore(); len(missing) > 0 {
		return nil, c.badAnswer(http.MethodGet, health.PathMetrics, base,
			fmt.Errorf("the page lacks %s: not Neuwerk's metrics (check the inventory's metrics port)", strings.Join(missing, ", ")))
	}
	return m, nil
}

// getJSON runs one GET against the API and hands a body with an accepted
// status to decode. Other statuses become *APIError; failures to connect
// or read become *TransportError.
func (c *Client) getJSON(parent context.Context, path string, timeout time.Duration, auth bool, accept []int, decode func([]byte) error) error {
	base := c.apiURL.String()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	resp, err := c.do(parent, ctx, c.api, http.MethodGet, base, path, auth, nil)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if !statusIn(resp.StatusCode, accept) {
		return c.apiError(resp, http.MethodGet, base, path)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		return c.transportError(parent, ctx, http.MethodGet, path, base, err)
	}
	if len(body) > maxJSONBody {
		return c.badAnswer(http.MethodGet, path, base, fmt.Errorf("body is over %d bytes", maxJSONBody))
	}
	if err := decode(body); err != nil {
		return c.badAnswer(http.MethodGet, path, base, err)
	}
	return nil
}

// do sends one request under ctx, a per-call context derived from parent
// (the caller's), so errors can tell a per-call timeout from the caller's
// cancellation. extra headers are added after auth.
func (c *Client) do(parent, ctx context.Context, hc *http.Client, method, base, path string, auth bool, extra http.Header) (*http.Response, error) {
	return c.doBody(parent, ctx, hc, method, base, path, auth, extra, nil)
}

// doBody is do with a request body.
func (c *Client) doBody(parent, ctx context.Context, hc *http.Client, method, base, path string, auth bool, extra http.Header, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: build %s %s: %w", c.name, method, path, err)
	}
	req.Header.Set("User-Agent", "nwroll")
	if auth && c.token.value != "" {
		req.Header.Set("Authorization", "Bearer "+c.token.value)
	}
	for k, vs := range extra {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.transportError(parent, ctx, method, path, base, err)
	}
	return resp, nil
}

// apiError reads Neuwerk's {"error": "..."} body (bounded) into an *APIError.
func (c *Client) apiError(resp *http.Response, method, base, path string) *health.APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := ""
	var eb health.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	} else {
		msg = excerpt(body)
	}
	return &health.APIError{
		Node: c.name, URL: base, Method: method, Path: path,
		Status: resp.StatusCode, Message: c.scrubString(msg),
	}
}

// excerpt turns a non-JSON error body into one short printable line.
func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	const max = 200
	cut := len(b) > max
	if cut {
		b = b[:max]
	}
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == utf8.RuneError {
			return -1
		}
		return r
	}, string(b))
	if cut {
		s += "…"
	}
	return s
}

func statusIn(code int, accept []int) bool {
	for _, a := range accept {
		if code == a {
			return true
		}
	}
	return false
}

// drainClose reads a little of what is left so the connection can be
// reused, then closes the body.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}
