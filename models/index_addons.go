package models

import "strings"

// addonsMessage says which add-ons there are, for input that asked for
// another: "The only add-on is thumbnail."
func addonsMessage() string {
	if len(IndexAddons) == 1 {
		return "The only add-on is " + IndexAddons[0] + "."
	}
	return "The add-ons are " + strings.Join(IndexAddons[:len(IndexAddons)-1], ", ") + " and " + IndexAddons[len(IndexAddons)-1] + "."
}
