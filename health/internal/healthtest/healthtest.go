// Package healthtest holds what the tests of health and of the packages
// under it share: the fixtures of Neuwerk's answers (facts §13), the
// fixture node ids, and a builder of sysdump archives. It imports none of
// those packages, so each of them may use it from its own tests.
package healthtest

import (
	"embed"
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
