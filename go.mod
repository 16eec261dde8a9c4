module github.com/callvault/callvault

go 1.26.8
