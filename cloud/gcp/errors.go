package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"

	"github.com/nwroll/nwroll/cloud"
)

// Error is a failed Compute Engine call, said in one line: what failed,
// why, and what to do. It unwraps to the client's error (errors.As finds
// the *googleapi.Error) and, for a missing group, template or image, to
// cloud.ErrNotFound.
type Error struct {
	Op     string // "compute.regionInstanceGroupManagers.resize"
	Status int    // the HTTP status, 0 when the call never got an answer
	Reason string // Google's error reason ("notFound"), or an operation's error code
	msg    string
	errs   []error
}

func (e *Error) Error() string   { return e.msg }
func (e *Error) Unwrap() []error { return e.errs }

// explain turns a client error of call op into an Error.
func (p *Provider) explain(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	e := &Error{Op: op, errs: []error{err}}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		e.msg = fmt.Sprintf("gcp %s: %s: check that %s is reachable from here", op, oneLine(rootCause(err)), p.endpointName())
		return e
	}
	e.Status = ge.Code
	if len(ge.Errors) > 0 {
		e.Reason = ge.Errors[0].Reason
	}
	msg := oneLine(ge.Message)
	switch ge.Code {
	case http.StatusUnauthorized:
		e.msg = fmt.Sprintf("gcp %s: Google rejected the credentials (%s): refresh them with `gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS at a valid service account key", op, msg)
	case http.StatusForbidden:
		e.msg = fmt.Sprintf("gcp %s: permission denied in project %s (%s): grant the credentials' principal the permission for %s (roles/compute.instanceAdmin.v1 covers every call nwroll makes)", op, p.project, msg, op)
	case http.StatusNotFound:
		e.errs = append(e.errs, cloud.ErrNotFound)
		e.msg = fmt.Sprintf("gcp %s: %s: check cloud.project (%s), cloud.region (%s) and cloud.group (%s) in the inventory", op, msg, p.project, p.region, p.group)
	case http.StatusTooManyRequests:
		e.msg = fmt.Sprintf("gcp %s: rate limited or out of quota (%s): wait and retry, or raise the Compute Engine quota of project %s", op, msg, p.project)
	default:
		e.msg = fmt.Sprintf("gcp %s: HTTP %d %s: %s", op, ge.Code, e.Reason, msg)
	}
	return e
}

// operationFailed is an operation that ended with errors.
func operationFailed(op string, o *computepb.Operation) error {
	var parts []string
	code := ""
	for _, e := range o.GetError().GetErrors() {
		if code == "" {
			code = e.GetCode()
		}
		parts = append(parts, oneLine(e.GetCode()+": "+e.GetMessage()))
	}
	return &Error{Op: op, Status: int(o.GetHttpErrorStatusCode()), Reason: code,
		msg: fmt.Sprintf("gcp %s: operation %s failed: %s: see `gcloud compute operations describe %s`", op, o.GetName(), strings.Join(parts, "; "), o.GetName())}
}

// rootCause is the innermost error's text.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (p *Provider) endpointName() string {
	if p.endpoint != "" {
		return p.endpoint
	}
	return "https://compute.googleapis.com"
}

func notFound(op, format string, args ...any) error {
	return &Error{Op: op, Status: http.StatusNotFound, Reason: "notFound", msg: "gcp " + op + ": " + fmt.Sprintf(format, args...), errs: []error{cloud.ErrNotFound}}
}

func failure(op, format string, args ...any) error {
	return &Error{Op: op, msg: "gcp " + op + ": " + fmt.Sprintf(format, args...)}
}
