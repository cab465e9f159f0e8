import argparse
import sqlite3


def main():
    parser = argparse.ArgumentParser(description="List inventory")
    parser.add_argument("--sort", default="name")
    args = parser.parse_args()
    conn = sqlite3.connect("inventory.db")
    for row in conn.execute("SELECT name, qty FROM items ORDER BY " + args.sort):  # expect: CWE-89
        print(row)


if __name__ == "__main__":
    main()
