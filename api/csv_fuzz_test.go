package api

import (
	"strings"
	"testing"
)

// FuzzDeviceCSV: whatever a client uploads, the import's parser returns rows,
// row errors or an error, and never panics.
func FuzzDeviceCSV(f *testing.F) {
	for _, seed := range []string{
		"id,name,device_type\r\ncam-1,Lobby,camera\r\n",
		"id,name,device_type,address\r\n\"x,y\",\"a \"\"b\"\"\",camera,https://h\r\n",
		"id,name,device_type\r\n\"unterminated\r\n",
		"id,name\r\n",
		"ID , Name,DEVICE_TYPE\ncam-1,x,camera,extra\n",
		"",
		"id,name,device_type\r\ncam\x00-1,Lo\x00bby,camera\r\n",
		"id,name,device_type\r\ncam-1,Lobby \xff\xfe,camera\r\n",
		"id\x00,name,device_type\r\ncam-1,x,camera\r\n",
		"id,name,device_type\r\n99999999999999999999,4294967296,2147483648\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		bodies, errs, err := readDeviceCSV(strings.NewReader(data))
		if err != nil {
			return
		}
		if len(bodies)+len(errs) == 0 || len(bodies)+len(errs) > maxImportRows {
			t.Fatalf("accepted %d rows and %d row errors", len(bodies), len(errs))
		}
	})
}
