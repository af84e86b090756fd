package runbook

// Exit codes (design §1): the machine decides them, the headless commands
// return them.
const (
	ExitOK         = 0
	ExitFailed     = 1
	ExitUsage      = 2
	ExitRefused    = 3
	ExitRolledBack = 4
	ExitPaused     = 5 // --pause-before stopped the run; `nwroll resume` continues it
)

// ExitError carries the exit code an error deserves with a one-line error:
// a problem found before anything could change on a node (a bad token, CA
// or host key, an unreachable node: 2 for a configuration error, 3 for a
// refusal), or a headless command's verdict.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }
