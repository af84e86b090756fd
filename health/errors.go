package health

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinels for errors.Is. An *APIError or *TransportError matches the
// sentinels that describe it, e.g. errors.Is(err, ErrLeaderUnknown).
var (
	// ErrLeaderUnknown: 503 {"error":"leader unknown"} from a leader-proxied call.
	ErrLeaderUnknown = errors.New("leader unknown")
	// ErrLeaderProxyFailed: 502 from a node that could not reach the leader.
	ErrLeaderProxyFailed = errors.New("leader proxy failed")
	// ErrUnauthorized: 401, the token is missing, invalid, expired or revoked.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: 403, e.g. a POST without the admin role.
	ErrForbidden = errors.New("forbidden")
	// ErrTransport: the request got no HTTP answer (any TransportError).
	ErrTransport = errors.New("no answer from node")
	// ErrConnRefused: nothing listens on the port: the node is down or still starting.
	ErrConnRefused = errors.New("connection refused")
	// ErrTimeout: the per-call timeout fired.
	ErrTimeout = errors.New("timed out")
	// ErrTLS: the TLS handshake or certificate check failed.
	ErrTLS = errors.New("TLS failure")
	// ErrBadResponse: an answer that does not have the documented shape.
	ErrBadResponse = errors.New("unexpected response")
)

// Messages Neuwerk puts in {"error": ...} bodies that callers tell apart.
const (
	msgLeaderUnknown         = "leader unknown"
	msgSysdumpFailedEveryone = "cluster sysdump failed on every node"
)

// HTTP statuses an APIError is told apart by.
const (
	statusUnauthorized       = 401
	statusForbidden          = 403
	statusBadGateway         = 502
	statusServiceUnavailable = 503
)

// statusTexts names the statuses a Neuwerk node, or a proxy in front of
// it, answers with, in net/http's words (health imports no net/http).
var statusTexts = map[int]string{
	301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect",
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	408: "Request Timeout", 409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
	422: "Unprocessable Entity", 429: "Too Many Requests",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

// status is a status with its name, "503 Service Unavailable", or the
// number alone when the table has no name for it.
func status(code int) string {
	if text, ok := statusTexts[code]; ok {
		return fmt.Sprintf("%d %s", code, text)
	}
	return strconv.Itoa(code)
}

// APIError is an HTTP answer with an unexpected status, usually carrying
// Neuwerk's {"error": "..."} body.
type APIError struct {
	Node    string // inventory name or host
	URL     string // base URL of the node that answered
	Method  string
	Path    string // request path, e.g. /api/v1/stats
	Status  int
	Message string // the "error" field, or a short body excerpt when not JSON
}

// Error names the node, the call and what went wrong, plus a fix when obvious.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s %s: %s", e.Node, e.URL, e.Method, e.Path, status(e.Status))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString(" (")
		b.WriteString(hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *APIError) hint() string {
	switch {
	case e.Status == statusUnauthorized:
		return "the token was rejected: mint a new one with `neuwerk auth token mint --roles admin` or fix NEUWERK_TOKEN"
	case e.Status == statusForbidden && strings.Contains(e.Message, "admin role required"):
		return "the token lacks the admin role: mint one with --roles admin"
	case e.isLeaderUnknown():
		return "no Raft leader right now; expected for a few seconds during an election"
	case e.isLeaderProxyFailed():
		return "this node could not reach the leader; expected briefly while the leader restarts"
	}
	return ""
}

func (e *APIError) isLeaderUnknown() bool {
	return e.Status == statusServiceUnavailable && strings.EqualFold(strings.TrimSpace(e.Message), msgLeaderUnknown)
}

func (e *APIError) isLeaderProxyFailed() bool {
	// The only 502 Neuwerk produces besides a failed leader proxy is the
	// cluster sysdump that failed on every node.
	return e.Status == statusBadGateway && !strings.Contains(e.Message, msgSysdumpFailedEveryone)
}

// Is makes errors.Is(err, ErrLeaderUnknown) and friends work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrLeaderUnknown:
		return e.isLeaderUnknown()
	case ErrLeaderProxyFailed:
		return e.isLeaderProxyFailed()
	case ErrUnauthorized:
		return e.Status == statusUnauthorized
	case ErrForbidden:
		return e.Status == statusForbidden
	}
	return false
}

// TransportKind classifies a request that got no HTTP answer.
type TransportKind int

// Transport error kinds.
const (
	KindOther     TransportKind = iota // DNS, reset, unexpected EOF, ...
	KindRefused                        // connection refused: down or still starting
	KindTimeout                        // the per-call timeout fired
	KindTLS                            // handshake or certificate verification failed
	KindCanceled                       // the caller's context was canceled
	KindBadAnswer                      // an HTTP answer whose body does not decode
)

func (k TransportKind) String() string {
	switch k {
	case KindRefused:
		return "refused"
	case KindTimeout:
		return "timeout"
	case KindTLS:
		return "tls"
	case KindCanceled:
		return "canceled"
	case KindBadAnswer:
		return "bad answer"
	}
	return "other"
}

// TransportError is a call that got no usable HTTP answer: connection
// refused, a timeout, a TLS failure, or a body that does not decode.
type TransportError struct {
	Node   string
	URL    string
	Method string
	Path   string
	Kind   TransportKind
	Detail string // operator-readable cause and fix
	Err    error  // the underlying error, token-free
}

// Error names the node, the call, the cause and the fix where obvious.
func (e *TransportError) Error() string {
	return fmt.Sprintf("%s (%s): %s %s: %s", e.Node, e.URL, e.Method, e.Path, e.Detail)
}

// Unwrap returns the underlying error (e.g. context.Canceled).
func (e *TransportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTimeout) and friends work.
func (e *TransportError) Is(target error) bool {
	switch target {
	case ErrTransport:
		return e.Kind != KindBadAnswer
	case ErrConnRefused:
		return e.Kind == KindRefused
	case ErrTimeout:
		return e.Kind == KindTimeout
	case ErrTLS:
		return e.Kind == KindTLS
	case ErrBadResponse:
		return e.Kind == KindBadAnswer
	}
	return false
}

// IsLeaderUnknown reports a 503 "leader unknown" (an election is running).
func IsLeaderUnknown(err error) bool { return errors.Is(err, ErrLeaderUnknown) }

// IsLeaderProxyFailed reports a 502 from a node whose leader proxy failed
// (the leader just went away and no election has finished yet).
func IsLeaderProxyFailed(err error) bool { return errors.Is(err, ErrLeaderProxyFailed) }

// IsLeaderTransition reports either of the two errors expected while the
// leader restarts.
func IsLeaderTransition(err error) bool { return IsLeaderUnknown(err) || IsLeaderProxyFailed(err) }

// IsUnauthorized reports a 401.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsForbidden reports a 403.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsUnreachable reports a call that got no HTTP answer at all (refused,
// timeout, reset, TLS failure): the node is down or still starting.
func IsUnreachable(err error) bool { return errors.Is(err, ErrTransport) }

// IsNodeDown reports a node that is down or still starting: connection
// refused, a timeout, or a dropped connection. Unlike IsUnreachable it
// excludes TLS failures, which are configuration errors that waiting will
// not fix (facts §12: treat refused as "still starting" until a deadline).
func IsNodeDown(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && (te.Kind == KindRefused || te.Kind == KindTimeout || te.Kind == KindOther)
}

// IsTimeout reports that the per-call timeout fired.
func IsTimeout(err error) bool { return errors.Is(err, ErrTimeout) }

// IsTLS reports a TLS handshake or certificate failure (wrong CA, wrong SAN).
func IsTLS(err error) bool { return errors.Is(err, ErrTLS) }
