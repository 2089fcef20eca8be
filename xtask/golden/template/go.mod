module pushtail/golden/template

go 1.24
