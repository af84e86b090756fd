package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/nwroll/nwroll/health"
)

// transportError classifies err from http.Client.Do (or a body read).
// callCtx is the per-call context, parent the caller's.
func (c *Client) transportError(parent, callCtx context.Context, method, path, base string, err error) *health.TransportError {
	te := &health.TransportError{Node: c.name, URL: base, Method: method, Path: path, Err: c.scrub(err)}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		recordHeader     tls.RecordHeaderError
		verifyErr        *tls.CertificateVerificationError
		netErr           net.Error
	)
	switch {
	case parent.Err() != nil && errors.Is(err, context.Canceled):
		te.Kind, te.Detail = health.KindCanceled, "canceled"
	case parent.Err() != nil:
		te.Kind, te.Detail = health.KindTimeout, "timed out: the caller's deadline passed"
	case callCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		te.Kind = health.KindTimeout
		te.Detail = "timed out: no answer within the per-call timeout; the node may be overloaded, black-holed or still starting"
	case errors.Is(err, syscall.ECONNREFUSED):
		te.Kind = health.KindRefused
		te.Detail = "connection refused: nothing listens on the port; the node is down or still starting"
	case errors.As(err, &unknownAuthority):
		te.Kind = health.KindTLS
		te.Detail = fmt.Sprintf("certificate signed by unknown authority: the CA in %s does not match the node's certificate; fetch <data_root>/http-tls/ca.crt again", c.caSource)
	case errors.As(err, &hostname):
		te.Kind = health.KindTLS
		te.Detail = fmt.Sprintf("certificate is not valid for %q (its SANs: %s); use an API host that is an IP in the certificate, or set the TLS server name", hostname.Host, certSANs(hostname.Certificate))
	case errors.As(err, &invalid):
		te.Kind = health.KindTLS
		te.Detail = fmt.Sprintf("the node's certificate is invalid: %v", invalid)
	case errors.As(err, &recordHeader):
		te.Kind = health.KindTLS
		te.Detail = "the port does not speak TLS (is it the plain-HTTP metrics port?)"
	case errors.As(err, &verifyErr):
		te.Kind = health.KindTLS
		te.Detail = fmt.Sprintf("certificate verification failed: %v", verifyErr.Err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		te.Kind = health.KindTLS
		te.Detail = "the port answers plain HTTP, not HTTPS (is it the metrics port?)"
	case strings.Contains(err.Error(), "tls: "):
		te.Kind = health.KindTLS
		te.Detail = "TLS handshake failed: " + c.scrub(err).Error()
	default:
		te.Kind = health.KindOther
		te.Detail = "request failed: " + c.scrub(err).Error()
	}
	return te
}

// badAnswer reports a 2xx answer whose body is not what the facts describe.
func (c *Client) badAnswer(method, path, base string, err error) *health.TransportError {
	return &health.TransportError{
		Node: c.name, URL: base, Method: method, Path: path, Kind: health.KindBadAnswer,
		Detail: "unexpected answer: " + c.scrub(err).Error(), Err: c.scrub(err),
	}
}

// scrub removes the token from an error's text, in case a server or proxy
// echoed it. The returned error keeps errors.Is behaviour only when nothing
// was removed.
func (c *Client) scrub(err error) error {
	if err == nil || c.token.value == "" || !strings.Contains(err.Error(), c.token.value) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), c.token.value, redacted))
}

func (c *Client) scrubString(s string) string {
	if c.token.value == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token.value, redacted)
}

func certSANs(cert *x509.Certificate) string {
	if cert == nil {
		return "none"
	}
	var sans []string
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, cert.DNSNames...)
	if len(sans) == 0 {
		return "none"
	}
	return strings.Join(sans, ", ")
}
