import Testing

@testable import MPMRun

@Suite("Byte search")
struct ByteSearchTests {
    @Test("containsBytes finds what contains(_:) finds, and a needle before a combining mark too")
    func containsBytes() {
        let cases: [(String, String)] = [
            ("my_password_here", "password"), ("token", "token"), ("tok", "token"), ("", "a"), ("abc", ""),
            ("aaab", "aab"), ("x<script>", "<script"), ("<scrip", "<script"), ("été", "té"), ("naïve", "ïv"),
            ("日本語のキー", "キー"), ("a\u{0}b", "\u{0}b"), ("ab", "ab"), ("xab", "ab"), ("abcab", "cab"),
            ("abcabd", "abd"), ("ba", "ab"), ("a", "ab"),
        ]
        for (hay, needle) in cases {
            #expect(hay.containsBytes(needle) == hay.contains(needle), "\(hay) / \(needle)")
        }
        // "/" followed by a combining acute accent is one Character, not "/": contains(_:)
        // misses it, the byte search does not.
        #expect("a/\u{301}b".containsBytes("/"))
        #expect(!"a/\u{301}b".contains("/"))
        // A string bridged from a substring or built by concatenation is searched the same.
        let built = String("xx-token-yy".dropFirst(3)) + "zz"
        #expect(built.containsBytes("token"))
        #expect(!built.containsBytes("xx"))
    }
}
