//! `unknown-world`: a valid component that exports an interface the
//! platform does not serve.

wit_bindgen::generate!({
    inline: "
        package test:guests;
        interface other { ping: func() -> u32; }
        world unknown { export other; }
    ",
});

struct Other;

impl exports::test::guests::other::Guest for Other {
    fn ping() -> u32 {
        42
    }
}

export!(Other);
