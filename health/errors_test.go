package health

import (
	"net/http"
	"testing"
)

// The status table says what net/http's StatusText says.
func TestStatusTextsAreNetHTTPs(t *testing.T) {
	for code, text := range statusTexts {
		if want := http.StatusText(code); text != want {
			t.Errorf("statusTexts[%d] = %q, net/http says %q", code, text, want)
		}
	}
	if got := status(http.StatusServiceUnavailable); got != "503 Service Unavailable" {
		t.Errorf("status(503) = %q", got)
	}
	if got := status(418); got != "418" {
		t.Errorf("status(418) = %q", got)
	}
}
