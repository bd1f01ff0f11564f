// Package acceptretrytest gives tests of servers that accept through netio/acceptretry a
// listener that fails as accept(2) does when the process runs out of file descriptors,
// so that each test shows its port still answers after the failure. Only test files
// import it: it stays out of production binaries.
package acceptretrytest
