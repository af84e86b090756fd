package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/nwroll/nwroll/cloud"
)

// Error is a failed AWS call, said in one line: what failed, why, and
// what to do. It unwraps to the SDK's error (errors.As finds the
// smithy.APIError) and, for a missing group, image or template, to
// cloud.ErrNotFound.
type Error struct {
	Op   string // "autoscaling:SetDesiredCapacity"
	Code string // the API error code, "" when the call never got an answer
	msg  string
	errs []error
}

func (e *Error) Error() string   { return e.msg }
func (e *Error) Unwrap() []error { return e.errs }

// notFoundCodes are API error codes that mean "no such thing".
var notFoundCodes = map[string]bool{
	"InvalidLaunchTemplateId.NotFound":            true,
	"InvalidLaunchTemplateName.NotFoundException": true,
	"InvalidLaunchTemplateId.VersionNotFound":     true,
	"InvalidAMIID.NotFound":                       true,
	"InvalidInstanceID.NotFound":                  true,
}

// apiCode is the API error code in err, "" if none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// explain turns an SDK error of call op (service:Action) into an Error.
func (p *Provider) explain(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	e := &Error{Op: op, errs: []error{err}}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		if isCredentialsError(err) {
			e.msg = fmt.Sprintf("aws %s: no usable AWS credentials: the default chain looks at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then AWS_PROFILE (or the default profile) in ~/.aws/credentials and ~/.aws/config (including SSO: run `aws sso login`), then a web identity token, then the instance or container role; configure one of them", op)
			return e
		}
		e.msg = fmt.Sprintf("aws %s: %s: check that %s is reachable from here", op, rootCause(err), p.endpointFor(op))
		return e
	}
	e.Code = ae.ErrorCode()
	msg := ae.ErrorMessage()
	switch {
	case e.Code == "AccessDenied" || e.Code == "AccessDeniedException" || e.Code == "UnauthorizedOperation" || e.Code == "Forbidden":
		e.msg = fmt.Sprintf("aws %s: access denied: the credentials in use need the IAM permission %q on group %s in region %s (%s)", op, op, p.group, p.region, msg)
	case e.Code == "InvalidClientTokenId" || e.Code == "AuthFailure" || e.Code == "SignatureDoesNotMatch" ||
		e.Code == "ExpiredToken" || e.Code == "ExpiredTokenException" || e.Code == "UnrecognizedClientException":
		e.msg = fmt.Sprintf("aws %s: AWS rejected the credentials (%s: %s): refresh them (for SSO: `aws sso login`) or pick another profile with AWS_PROFILE", op, e.Code, msg)
	case notFoundCodes[e.Code] || (e.Code == "ValidationError" && strings.Contains(msg, "AutoScalingGroup name not found")):
		e.errs = append(e.errs, cloud.ErrNotFound)
		e.msg = fmt.Sprintf("aws %s: %s: %s (region %s)", op, e.Code, msg, p.region)
	default:
		e.msg = fmt.Sprintf("aws %s: %s: %s", op, e.Code, msg)
	}
	return e
}

// isCredentialsError reports whether the SDK failed to find credentials
// before it sent anything. The SDK has no typed error for this; its
// identity step says "get credentials" / "retrieve credentials".
func isCredentialsError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "get credentials") || strings.Contains(s, "retrieve credentials") ||
		strings.Contains(s, "failed to refresh cached credentials")
}

// rootCause is the innermost error's text (a dial error, say), without
// the SDK's operation prefixes.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func (p *Provider) endpointFor(op string) string {
	service, _, _ := strings.Cut(op, ":")
	if ep := p.endpoints[service]; ep != "" {
		return ep
	}
	return "the " + service + " endpoint of region " + p.region
}

func notFound(op, format string, args ...any) error {
	return &Error{Op: op, msg: "aws " + op + ": " + fmt.Sprintf(format, args...), errs: []error{cloud.ErrNotFound}}
}

func failure(op, format string, args ...any) error {
	return &Error{Op: op, msg: "aws " + op + ": " + fmt.Sprintf(format, args...)}
}
