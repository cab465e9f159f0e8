from promptcraft.cli import main

main()
