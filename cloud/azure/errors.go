package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/nwroll/nwroll/cloud"
)

// Error is a failed Azure call, said in one line: what failed, why, and
// what to do. It unwraps to the SDK's error (errors.As finds the
// *azcore.ResponseError) and, for a missing scale set, image or VM, to
// cloud.ErrNotFound.
type Error struct {
	Op     string // "VirtualMachineScaleSets.Update"
	Code   string // the ARM error code, "" when the call got no answer
	Status int    // the HTTP status, 0 without an answer
	msg    string
	errs   []error
}

func (e *Error) Error() string   { return e.msg }
func (e *Error) Unwrap() []error { return e.errs }

// respError is the ARM answer in err, nil if none.
func respError(err error) *azcore.ResponseError {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// status is the HTTP status of the ARM answer in err, 0 if none.
func status(err error) int {
	if re := respError(err); re != nil {
		return re.StatusCode
	}
	return 0
}

// armMessage is the error message of an ARM answer's body.
func armMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	return doc.Error.Message
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return oneLine(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// explain turns an SDK error of call op into an Error.
func (p *Provider) explain(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	e = &Error{Op: op, errs: []error{err}}
	re := respError(err)
	if re == nil {
		if isCredentialsError(err) {
			e.msg = fmt.Sprintf("azure %s: no usable Azure credentials: the default chain looks at AZURE_CLIENT_ID/AZURE_TENANT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, then workload identity, then the managed identity, then `az login`, then `azd auth login`; configure one of them (%s)", op, firstLine(rootCause(err)))
			return e
		}
		e.msg = fmt.Sprintf("azure %s: %s: check that %s is reachable from here", op, oneLine(rootCause(err)), p.endpoint)
		return e
	}
	e.Code, e.Status = re.ErrorCode, re.StatusCode
	msg := oneLine(armMessage(re))
	if msg == "" {
		msg = http.StatusText(re.StatusCode)
	}
	switch {
	case re.StatusCode == http.StatusUnauthorized || e.Code == "InvalidAuthenticationToken" || e.Code == "ExpiredAuthenticationToken" || e.Code == "AuthenticationFailed":
		e.msg = fmt.Sprintf("azure %s: Azure rejected the credentials (%s: %s): sign in again (`az login`) or check AZURE_TENANT_ID and the subscription %s", op, e.Code, msg, p.sub)
	case re.StatusCode == http.StatusForbidden || e.Code == "AuthorizationFailed":
		e.msg = fmt.Sprintf("azure %s: access denied (%s): the identity in use needs a role such as Virtual Machine Contributor on scale set %s in resource group %s (and Reader on its image gallery)", op, msg, p.name, p.rg)
	case re.StatusCode == http.StatusNotFound:
		e.errs = append(e.errs, cloud.ErrNotFound)
		e.msg = fmt.Sprintf("azure %s: %s: %s: check cloud.subscription (%s), cloud.resource_group (%s) and cloud.group (%s) in the inventory", op, e.Code, msg, p.sub, p.rg, p.name)
	case re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusTooManyRequests:
		e.msg = fmt.Sprintf("azure %s: %s: %s: wait for the scale set's other operation to end, then try again", op, e.Code, msg)
	default:
		e.msg = fmt.Sprintf("azure %s: %s: %s", op, e.Code, msg)
	}
	return e
}

// isCredentialsError reports whether the credential failed before ARM
// answered. azidentity's chain has no exported type for "none usable".
func isCredentialsError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "DefaultAzureCredential") || strings.Contains(s, "failed to acquire a token") ||
		strings.Contains(s, "authentication failed")
}

func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func notFound(op, format string, args ...any) error {
	return &Error{Op: op, msg: "azure " + op + ": " + fmt.Sprintf(format, args...), errs: []error{cloud.ErrNotFound}}
}

func failure(op, format string, args ...any) error {
	return &Error{Op: op, msg: "azure " + op + ": " + fmt.Sprintf(format, args...)}
}
