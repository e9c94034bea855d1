fn main() {
    kbwatch::start();
}
