package db_test

import (
	"testing"

	"github.com/certfleet/certfleet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
