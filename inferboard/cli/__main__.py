from inferboard.cli.app import main

main()
