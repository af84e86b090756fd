package health

import "github.com/nwroll/nwroll/health/internal/healthtest"

// Fixture node ids (facts §13).
const (
	idA = healthtest.IDA
	idB = healthtest.IDB
	idC = healthtest.IDC
)

func ptr[T any](v T) *T { return &v }
