package release

// The external test (catalog_sim_test.go: it needs the simulator, and sim
// imports this package) reaches these through their exported names.
var (
	RelTestSHA        = relTestSHA
	RelTestTarGz      = relTestTarGz
	RelTestDirEntries = relTestDirEntries
)
