package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{S(0, "bridge"), "0 bridges"},
		{S(1, "bridge"), "1 bridge"},
		{S(2, "bridge"), "2 bridges"},
		{S(-1, "change"), "-1 changes"},
		{Count(1, "address", "addresses"), "1 address"},
		{Count(3, "address", "addresses"), "3 addresses"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
