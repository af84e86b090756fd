package health

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Verdict is a gate's judgement. Reasons are operator-readable lines such
// as "fw-b: /ready check policy_replication failing: policy replication not
// caught up"; they are empty exactly when OK. Summary is one line worth
// showing either way (e.g. the quorum arithmetic), and Values are the
// inputs the gate looked at, in a stable order, for the UI and journal.
type Verdict struct {
	Gate    string
	OK      bool
	Summary string
	Reasons []string
	Values  []GateValue
	// Abort marks a failure no wait can mend (a counter that grew for
	// good): the gate fails at once instead of waiting for its deadline.
	Abort bool
}

// GateValue is one named input of a gate. Its Value is typed, so a view
// formats a sha256 as a sha256 and a count as a number without guessing.
type GateValue struct {
	Name  string
	Value Value
}

// Value is a gate input: a Count, a Number, a SHA256 or a Text. String is
// its full form, the one the journal records.
type Value interface{ String() string }

// Count is a whole number: an index, a term, voters.
type Count uint64

// Number is a counter's or gauge's value.
type Number float64

// Text is a value that is words: "ok", "down", "6/8 ok", a node name.
type Text string

// SHA256 is a binary's sha256 in lower-case hex; Short is what a screen
// shows of it.
type SHA256 string

func (c Count) String() string  { return strconv.FormatUint(uint64(c), 10) }
func (n Number) String() string { return strconv.FormatFloat(float64(n), 'g', -1, 64) }
func (t Text) String() string   { return string(t) }
func (s SHA256) String() string { return string(s) }

// Short is the first 12 hex digits, as the plan prints a sha256.
func (s SHA256) Short() string {
	if len(s) > 12 {
		return string(s[:12])
	}
	return string(s)
}

// ShortValue is a value as a screen shows it: a sha256 shortened, anything
// else in full.
func ShortValue(v Value) string {
	if s, ok := v.(SHA256); ok {
		return s.Short()
	}
	if v == nil {
		return ""
	}
	return v.String()
}

// Value returns the named value's full form, if the gate recorded it.
func (v Verdict) Value(name string) (string, bool) {
	for _, gv := range v.Values {
		if gv.Name == name {
			return gv.Value.String(), true
		}
	}
	return "", false
}

// Err is nil when OK, else an error listing the reasons.
func (v Verdict) Err() error {
	if v.OK {
		return nil
	}
	return errors.New(v.String())
}

// String is "gate: ok" or "gate: reason; reason".
func (v Verdict) String() string {
	if v.OK {
		if v.Summary != "" {
			return v.Gate + ": ok: " + v.Summary
		}
		return v.Gate + ": ok"
	}
	return v.Gate + ": " + strings.Join(v.Reasons, "; ")
}

// verdict is a small builder used by the gates.
type verdict struct{ v Verdict }

func newVerdict(gate string) *verdict { return &verdict{v: Verdict{Gate: gate, OK: true}} }

func (b *verdict) fail(format string, args ...any) {
	b.v.OK = false
	b.v.Reasons = append(b.v.Reasons, fmt.Sprintf(format, args...))
}

func (b *verdict) set(name string, v Value) {
	b.v.Values = append(b.v.Values, GateValue{Name: name, Value: v})
}

func (b *verdict) text(name, format string, args ...any) {
	b.set(name, Text(fmt.Sprintf(format, args...)))
}

func (b *verdict) done() Verdict { return b.v }

// describe shortens a call error for a reason line: the node is already
// named there, so only the cause is kept.
func describe(err error) string {
	var api *APIError
	var te *TransportError
	switch {
	case errors.As(err, &api):
		s := status(api.Status)
		if api.Message != "" {
			s += ": " + api.Message
		}
		return s
	case errors.As(err, &te):
		return te.Detail
	}
	return err.Error()
}
