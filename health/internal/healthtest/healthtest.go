// Package healthtest holds what the tests of health and of the packages
// under it share: the fixtures of Neuwerk's answers (facts §13), the
// fixture node ids, and a builder of sysdump archives. It imports none of
// those packages, so each of them may use it from its own tests.
package healthtest

import (
	"embed"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Fixture node ids (facts §13).
const (
	IDA = "83887612463901818417196338898998763023"
	IDB = "184084369126271976562412313366005177152"
	IDC = "259059077657543621134331918787586352630"
)

//go:embed testdata
var testdata embed.FS

// Fixture returns the bytes of testdata/name.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RoundTrip checks that a decoded value re-encodes to JSON that decodes
// to the same value: the decoder keeps everything it accepted.
func RoundTrip[T any](t *testing.T, v T, decode func([]byte) (T, error)) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	again, err := decode(b)
	if err != nil {
		t.Fatalf("decode of re-encoded %s: %v", b, err)
	}
	if !reflect.DeepEqual(v, again) {
		t.Fatalf("round trip changed the value:\n%+v\n%+v", v, again)
	}
}

// CheckVerdict checks a gate verdict's OK and reasons: a verdict is OK
// exactly when it has no reasons, and wantReasons, when not nil, are the
// reasons it must give.
func CheckVerdict(t testing.TB, ok bool, reasons []string, wantOK bool, wantReasons []string) {
	t.Helper()
	if ok != wantOK {
		t.Errorf("OK = %v, want %v; reasons: %q", ok, wantOK, reasons)
	}
	if wantOK && len(reasons) != 0 {
		t.Errorf("OK verdict with reasons %q", reasons)
	}
	if !wantOK && len(reasons) == 0 {
		t.Error("failing verdict without reasons")
	}
	if wantReasons != nil && !reflect.DeepEqual(reasons, wantReasons) {
		t.Errorf("reasons:\n  %s\nwant:\n  %s", strings.Join(reasons, "\n  "), strings.Join(wantReasons, "\n  "))
	}
}
