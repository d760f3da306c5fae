package main

// Word lists for names, merchants and addresses. They imitate the Faker
// en_US provider that produced dataset_16; none of them may contain a digit,
// so the ZIP stays the only 5-digit number in an address. The long lists are
// in words/, one or more words a line.

import (
	_ "embed"
	"strings"
)

//go:embed words/first_names.txt
var firstNamesText string

var firstNames = strings.Fields(firstNamesText)

//go:embed words/last_names.txt
var lastNamesText string

var lastNames = strings.Fields(lastNamesText)

//go:embed words/street_suffixes.txt
var streetSuffixesText string

var streetSuffixes = strings.Fields(streetSuffixesText)

// nyCities are the customers' home towns; every customer lives in NY with a
// ZIP starting with 1, as in dataset_16.
var nyCities = []string{
	"Albany", "Binghamton", "Bronx", "Brooklyn", "Buffalo", "Cheektowaga", "Ithaca",
	"Mount Vernon", "New Rochelle", "New York", "Niagara Falls", "Queens", "Rochester",
	"Schenectady", "Staten Island", "Syracuse", "Troy", "Utica", "White Plains", "Yonkers",
}

// outOfState are the states of far-away merchants with their weight in
// dataset_16 and the first digit of their ZIPs. PA shares NY's first digit,
// so its merchants are out of state without being "far".
var outOfState = []struct {
	code   string
	weight int
	digit  byte
}{
	{"FL", 8, '3'}, {"TX", 6, '7'}, {"CA", 5, '9'}, {"PA", 5, '1'}, {"MA", 4, '0'},
	{"CT", 3, '0'}, {"VT", 3, '0'}, {"IL", 2, '6'}, {"NJ", 1, '0'},
}

var cityPrefixes = []string{"East", "Lake", "New", "North", "Port", "South", "West"}

var citySuffixes = []string{
	"berg", "borough", "burgh", "bury", "chester", "fort", "furt", "haven",
	"land", "mouth", "port", "shire", "side", "stad", "ton", "town", "view", "ville",
}

var companySuffixes = []string{"Group", "Inc", "LLC", "Ltd", "PLC"}

var emailDomains = []string{"example.com", "example.com", "example.net", "example.org", "example.org"}

// cardPrefixes are first groups of card numbers; "xx" is replaced by random
// digits.
var cardPrefixes = []string{
	"51xx", "52xx", "52xx", "53xx", "53xx", "53xx", "54xx", "55xx", "55xx",
	"34xx", "37xx", "4xxx", "4xxx", "6011", "64xx", "65xx",
}
