package style

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// ShortPath fits a path in w columns without breaking a name in the
// middle: it drops leading directories behind "…/" until the rest fits
// ("…/backups/neuwerk-fw-a.tar.gz"). Only a last name wider than w alone
// is cut, at its end.
func ShortPath(p string, w int) string {
	if ansi.StringWidth(p) <= w {
		return p
	}
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		if s := "…/" + strings.Join(parts[i:], "/"); ansi.StringWidth(s) <= w {
			return s
		}
	}
	return ansi.Truncate("…/"+parts[len(parts)-1], max(w, 1), "…")
}

// ShortPaths shortens, with ShortPath, every path in text wider than w.
func ShortPaths(text string, w int) string {
	words := strings.Split(text, " ")
	for i, word := range words {
		if strings.Contains(word, "/") && ansi.StringWidth(word) > w {
			words[i] = ShortPath(word, w)
		}
	}
	return strings.Join(words, " ")
}
