package auth

// CachedTokens returns how many tokens v's cache holds (0 without a cache).
func CachedTokens(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
