// Package schemacheck validates nwroll's --json documents against their
// JSON Schemas (docs/schema/*.json) in tests: a field added in Go without
// a schema update, a missing field or a broken event stream fails the
// test that produced it.
package schemacheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Kinds are the documents with a schema: kind → docs/schema/<kind>.json.
var Kinds = []string{"event", "status", "runs", "plan"}

// SchemaNames are the schema names the documents carry, by kind.
var SchemaNames = map[string]string{
	"event":  "nwroll.event/v1",
	"status": "nwroll.status/v1",
	"runs":   "nwroll.runs/v1",
	"plan":   "nwroll.plan/v1",
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

// Dir is the directory holding the schemas: docs/schema in the module
// this file is part of.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("docs", "schema")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "schema")
}

// Path is the schema file of kind.
func Path(kind string) string { return filepath.Join(Dir(), kind+".json") }

func load() {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	compiled = map[string]*jsonschema.Schema{}
	for _, k := range Kinds {
		s, err := c.Compile(Path(k))
		if err != nil {
			loadErr = fmt.Errorf("schemacheck: compile %s: %w", Path(k), err)
			return
		}
		compiled[k] = s
	}
}

// Check validates one document of kind (event | status | runs | plan)
// against its schema.
func Check(kind string, doc []byte) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	s, ok := compiled[kind]
	if !ok {
		return fmt.Errorf("schemacheck: no schema of kind %q (want one of %s)", kind, strings.Join(Kinds, ", "))
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s does not validate: %w", SchemaNames[kind], err)
	}
	return nil
}

// maxShown is how much of an offending document a failure shows.
const maxShown = 2000

func truncate(doc []byte) string {
	s := string(doc)
	if len(s) > maxShown {
		return s[:maxShown] + fmt.Sprintf("… (%d bytes in all)", len(doc))
	}
	return s
}

// Validate fails the test when doc is not a valid document of kind,
// with the validation error and the document (truncated).
func Validate(t testing.TB, kind string, doc []byte) {
	t.Helper()
	if err := Check(kind, doc); err != nil {
		t.Fatalf("%v\ndocument:\n%s", err, truncate(doc))
	}
}

// CheckLines checks JSON-lines output of upgrade, resume or rollback
// --json: every non-empty line a valid event, seq 1, 2, 3, … without
// gaps, run never changing once present, exactly one summary event and
// it the last line. It returns the decoded lines.
func CheckLines(out []byte) ([]map[string]any, error) {
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	run, summaries, n := "", 0, 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d: %s\nline: %s", n, fmt.Sprintf(format, args...), truncate(line))
		}
		if err := Check("event", line); err != nil {
			return lines, fail("%v", err)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return lines, fail("%v", err)
		}
		if summaries > 0 {
			return lines, fail("an event after the summary event")
		}
		want := fmt.Sprint(len(lines) + 1)
		if seq := fmt.Sprint(m["seq"]); seq != want {
			return lines, fail("seq %s, want %s (events numbered 1, 2, 3, … without gaps)", seq, want)
		}
		if r, ok := m["run"].(string); ok {
			if run != "" && r != run {
				return lines, fail("run %q after run %q: the run id changed", r, run)
			}
			run = r
		} else if run != "" {
			// Once the run has an id every later event carries it.
			return lines, fail("no run after run %q", run)
		}
		if m["type"] == "summary" {
			summaries++
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		return lines, fmt.Errorf("reading the output: %w", err)
	}
	if summaries != 1 {
		return lines, fmt.Errorf("%d summary events in %d events, want exactly 1, the last", summaries, len(lines))
	}
	return lines, nil
}

// ValidateLines fails the test unless out is valid JSON-lines output of
// upgrade, resume or rollback --json (see CheckLines), with the error and
// the output (truncated); it returns the decoded lines.
func ValidateLines(t testing.TB, out []byte) []map[string]any {
	t.Helper()
	lines, err := CheckLines(out)
	if err != nil {
		t.Fatalf("%v\noutput:\n%s", err, truncate(out))
	}
	return lines
}
