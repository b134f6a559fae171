// Package layering holds the test that keeps certfleet's import graph telling
// its architecture: the API knows drivers only through the registry's
// interface, protocols sit below the drivers that speak them.
package layering
