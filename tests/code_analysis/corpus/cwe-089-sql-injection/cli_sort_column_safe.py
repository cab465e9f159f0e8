import argparse
import sqlite3

SORTABLE = {"name", "qty"}


def main():
    parser = argparse.ArgumentParser(description="List inventory")
    parser.add_argument("--sort", default="name")
    args = parser.parse_args()
    if args.sort not in SORTABLE:
        parser.error("--sort must be name or qty")
    conn = sqlite3.connect("inventory.db")
    for row in conn.execute("SELECT name, qty FROM items ORDER BY " + args.sort):
        print(row)


if __name__ == "__main__":
    main()
