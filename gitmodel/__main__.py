from gitmodel.entry import main

main()
