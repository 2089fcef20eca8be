module pushtail.dev/golden/stages

go 1.21

require (
	github.com/go-logfmt/logfmt v0.6.1
	github.com/shopspring/decimal v1.4.0
)
