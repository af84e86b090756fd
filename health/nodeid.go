package health

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/google/uuid"
)

// NodeIDFromUUID converts the UUID in <data_root>/node_id to the decimal
// string the API, metrics and sysdump paths use: the UUID's 16 bytes read as
// a big-endian u128 (facts §0.3).
func NodeIDFromUUID(s string) (string, error) {
	u, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("node_id %q is not a UUID: %w", strings.TrimSpace(s), err)
	}
	return new(big.Int).SetBytes(u[:]).String(), nil
}

var maxU128 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// UUIDFromNodeID converts a decimal API node id back to its UUID text form.
// Only canonical decimals are accepted (digits, no sign, no leading zero),
// so the conversion round-trips exactly.
func UUIDFromNodeID(decimal string) (string, error) {
	d := strings.TrimSpace(decimal)
	if !isCanonicalDecimal(d) {
		return "", fmt.Errorf("node id %q is not a decimal u128", decimal)
	}
	n, ok := new(big.Int).SetString(d, 10)
	if !ok || n.Cmp(maxU128) > 0 {
		return "", fmt.Errorf("node id %q is not a decimal u128", decimal)
	}
	var b [16]byte
	n.FillBytes(b[:])
	return uuid.UUID(b).String(), nil
}

func isCanonicalDecimal(s string) bool {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
