// Package csv is the csv connector kind: it reads and writes typed row files
// as comma-separated text with a header row of column names.
package csv
